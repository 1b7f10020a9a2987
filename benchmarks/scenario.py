"""What the benchmarks write: a province cycle with scorecards (driven through the ParIndex
API), and a stand-in aggregate for direct saves.

The set-up reuses the tests' builders (a published 20-point framework using every scoring
method, the same actors) and adds a cycle in self-assessment with many units.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.actors import Role
from domain.application import ParIndex
from domain.base import ParAggregate
from domain.cycle.phases import SCHEDULED_PHASES, Phase
from domain.scorecard.model import SelfScoreEntry
from tests.builders import APPRAISER, SECRETARIAT, full_marks, officer, small_framework

# One framework and one set of actors for tests and benchmarks alike.
framework_document = small_framework


ALL_ITEMS_A = full_marks()
ALL_ITEMS_B = [
    SelfScoreEntry("1.1.1", {"done": False}),
    SelfScoreEntry("1.1.2", {"numerator": 17, "denominator": 20}),
    SelfScoreEntry("1.2", {"violations": 1}),
    SelfScoreEntry("1.3", {"numerator": 1, "denominator": 10}),
    SelfScoreEntry("2.1", {"numerator": 2, "denominator": 4}),
    SelfScoreEntry("2.2", {"count": 1}),
    SelfScoreEntry("2.3", {"level": "don-vi"}),
    SelfScoreEntry("2.4", points="0.5", note="Một hồ sơ trễ hạn chưa xin lỗi"),
]


def one_item(flag: bool) -> list[SelfScoreEntry]:
    """The command the benchmark repeats: item 1.1.1 declared done / not done, alternately."""
    return [SelfScoreEntry("1.1.1", {"done": flag})]


class Province:
    """A cycle in self-assessment with `units` enrolled; scorecard ids by unit code."""

    def __init__(self, app: ParIndex, units: int, year: int = 2025,
                 province: str = "Khánh Hòa") -> None:
        self.app = app
        framework = app.define_framework(SECRETARIAT, framework_document(year))
        app.publish_framework(SECRETARIAT, framework.aggregate_id)
        now: datetime = app.clock()
        schedule = {phase.value: now + timedelta(days=30 + 10 * index)
                    for index, phase in enumerate(SCHEDULED_PHASES)}
        opened = app.open_cycle(SECRETARIAT, province=province, year=year,
                                title=f"Chỉ số CCHC năm {year}",
                                groups=[{"code": "SO", "name": "Khối sở, ban, ngành",
                                         "framework_id": str(framework.aggregate_id)}],
                                schedule=schedule)
        codes = [f"S{index:02d}" for index in range(units)]
        app.enrol_units(SECRETARIAT, opened.aggregate_id,
                        [{"code": code, "name": f"Sở thứ {code[1:]}", "group": "SO"}
                         for code in codes])
        app.assign_appraiser(SECRETARIAT, opened.aggregate_id, APPRAISER.id, codes)
        app.advance_phase(SECRETARIAT, opened.aggregate_id, Phase.SELF_ASSESSMENT)
        self.framework_id: UUID = framework.aggregate_id
        self.cycle_id: UUID = opened.aggregate_id
        cycle = app.cycle(self.cycle_id)
        self.scorecards: dict[str, UUID] = {code: cycle.units[code]["scorecard_id"]
                                            for code in codes}
        self._unused = list(codes)

    def take_unit(self) -> str:
        """A unit whose scorecard no benchmark has touched yet."""
        return self._unused.pop(0)

    def fill(self, unit: str, self_assessments: int) -> int:
        """Give a unit's scorecard 8 events per self-assessment, alternating A and B, saved at
        once (one transaction; snapshots are taken as the save crosses each 100th version).
        Returns the scorecard's version."""
        app = self.app
        card = app.scorecard(self.scorecards[unit])
        context = app.cycle(self.cycle_id).context_for(unit, app.clock())
        tree = app.framework_tree(self.framework_id)
        for index in range(self_assessments):
            card.record_self_scores(officer(unit), context, tree,
                                    ALL_ITEMS_A if index % 2 == 0 else ALL_ITEMS_B)
        app.save(card)
        return card.version


class BenchEntry(ParAggregate):
    """A stand-in aggregate for the direct-save cases: its events carry the fields of
    `Scorecard.Opened` / `Scorecard.SelfScoreRecorded` (actor, role enum, UUID, Decimal, dict),
    go through parindex's transcoder into parindex's table, but are never snapshotted, so the
    direct saves measure the write path alone."""

    class Started(ParAggregate.Created):
        cycle_id: UUID
        unit_code: str
        unit_name: str
        group_code: str
        framework_id: UUID
        ranked: bool

    class Recorded(ParAggregate.Event):
        item_code: str
        declared: dict[str, Any] | None
        not_applicable: bool
        points: Decimal | None
        note: str

    @event(Started)
    def __init__(self, cycle_id: UUID, unit_code: str, unit_name: str, group_code: str,
                 framework_id: UUID, ranked: bool, actor_id: str, actor_role: Role) -> None:
        self.unit_code = unit_code
        self.last: dict[str, Any] | None = None

    @event(Recorded)
    def record(self, item_code: str, declared: dict[str, Any] | None, not_applicable: bool,
               points: Decimal | None, note: str, actor_id: str, actor_role: Role) -> None:
        self.last = declared
