"""Helpers for the application-level rule tests (tests/app only).

`rejected` is the one way these tests check a refusal: the exact domain error class, its
`item` / `field` where the rule names one, and nothing written to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

import pytest

from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.base import ParAggregate
from domain.cycle.phases import Phase
from domain.errors import DomainError
from domain.scorecard.model import SelfScoreEntry
from domain.store.blobs import BlobStore, StoredBlob
from tests.builders import APPRAISER, SECRETARIAT, Scenario, full_marks, head, officer

E = TypeVar("E", bound=ParAggregate.Event)
_ANY = object()

INTEGRATOR = Actor("cong-du-lieu.tich-hop", Role.INTEGRATOR)
OTHER_APPRAISER = Actor("tdd.tran-thi-c", Role.APPRAISER)


def rejected(app: ParIndex, error: type[DomainError], call: Callable[[], Any], *,
             item: Any = _ANY, field: Any = _ANY) -> DomainError:
    """Run `call`, expect exactly `error` (not a parent or a child class) and no new event."""
    before = app.recorder.max_notification_id()
    with pytest.raises(DomainError) as caught:
        call()
    raised = caught.value
    assert type(raised) is error, f"expected {error.__name__}, got {type(raised).__name__}: " \
                                  f"{raised}"
    if item is not _ANY:
        assert raised.item == item, raised
    if field is not _ANY:
        assert raised.field == field, raised
    assert app.recorder.max_notification_id() == before, "a rejected command wrote events"
    return raised


def events_of(app: ParIndex, aggregate_id: UUID, cls: type[E] | None = None) -> list[Any]:
    """The stored events of one aggregate, optionally only those of one class."""
    events = list(app.events.get(aggregate_id))
    return [e for e in events if cls is None or isinstance(e, cls)]


def all_events(app: ParIndex) -> list[Any]:
    """Every stored event of the application, decoded, in notification order."""
    notifications = app.recorder.select_notifications(start=1, limit=10000)
    return [app.mapper.to_domain_event(n) for n in notifications]


def store_blob(root, content: bytes) -> StoredBlob:
    return BlobStore(root / "blobs").put([content])


def without(entries: list[SelfScoreEntry], *codes: str) -> list[SelfScoreEntry]:
    return [entry for entry in entries if entry.item_code not in codes]


def full_marks_but(points: dict[str, str]) -> list[SelfScoreEntry]:
    """Full marks, with some judgement items (2.4) given other points: {"2.4": "0.5"}."""
    return [SelfScoreEntry(e.item_code, points=points[e.item_code])
            if e.item_code in points else e for e in full_marks()]


def submit(scenario: Scenario, unit: str, entries: list[SelfScoreEntry] | None = None) -> None:
    card = scenario.scorecards[unit]
    scenario.app.record_self_scores(officer(unit), card, entries or full_marks())
    scenario.app.submit_self_assessment(head(unit), card)


def past(scenario: Scenario, phase: Phase, minutes: int = 1) -> None:
    """Move the application's clock just past the cycle's deadline of `phase`."""
    scenario.app.clock.now = scenario.deadline(phase) + timedelta(minutes=minutes)


def accept_all(scenario: Scenario, round_: int) -> None:
    for unit in scenario.units:
        scenario.app.accept_remaining(APPRAISER, scenario.scorecards[unit], round_)


def advance(scenario: Scenario, phase: Phase) -> None:
    scenario.app.advance_phase(SECRETARIAT, scenario.cycle_id, phase)
