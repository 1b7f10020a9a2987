import json
from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.application import ParIndex
from domain.scorecard.model import Scorecard
from domain.store.config import settings_from_url
from tests.contract.catalogue import CATALOGUE_PATH
from tests.contract.fixture_log import FIXTURE


def read_fixture() -> tuple[dict[str, str], list[StoredEvent]]:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    totals = json.loads(lines[0])["totals"]
    events = [StoredEvent(originator_id=UUID(row["originator_id"]),
                          originator_version=row["originator_version"], topic=row["topic"],
                          state=row["state"].encode("utf-8"))
              for row in map(json.loads, lines[1:])]
    return totals, events


def test_the_v1_fixture_log_covers_every_v1_event_type():
    _, events = read_fixture()
    published = set(json.loads(CATALOGUE_PATH.read_text(encoding="utf-8")))
    assert {event.topic for event in events} <= published
    assert len({event.topic for event in events}) == 24  # every type the v1 catalogue had


def test_a_log_written_by_version_one_still_loads_and_scores_the_same(store_url):
    totals, events = read_fixture()
    app = ParIndex(settings_from_url(store_url))
    try:
        app.recorder.insert_events(events)
        cards = {}
        for event in events:
            domain_event = app.mapper.to_domain_event(event)
            if isinstance(domain_event, Scorecard.Opened):
                cards[domain_event.unit_code] = event.originator_id
        for unit, total in totals.items():
            _, _, sheet = app.score_sheet(cards[unit])
            assert sheet.total == Decimal(total)
    finally:
        app.close()
