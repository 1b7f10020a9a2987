"""What the benchmarks write: a province cycle with scorecards (driven through the ParIndex
API), and a stand-in aggregate for direct saves.

The set-up mirrors the tests' builders (a published 20-point framework using every scoring
method, a cycle in self-assessment) but is copied here: benchmarks never import from tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.base import ParAggregate
from domain.cycle.phases import SCHEDULED_PHASES, Phase
from domain.scorecard.model import SelfScoreEntry

SECRETARIAT = Actor("snv.cchc", Role.SECRETARIAT)
APPRAISER = Actor("tdd.nguyen-van-a", Role.APPRAISER)


def officer(unit: str) -> Actor:
    return Actor(f"{unit.lower()}.chuyen-vien", Role.UNIT_OFFICER, unit)


def framework_document(year: int, group: str = "SO") -> dict[str, Any]:
    """20 points: 14 appraised over every scoring method, 6 survey-fed (8 self-scored items)."""
    return {
        "code": f"{group}-{year}", "title": "Khung chấm điểm đo hiệu năng", "year": year,
        "unit_group": group, "bonus_cap": "2", "penalty_cap": "2",
        "fields": [
            {"code": "1", "title": "Chỉ đạo, điều hành CCHC", "max_points": "6", "children": [
                {"code": "1.1", "title": "Kế hoạch CCHC", "max_points": "3", "children": [
                    {"code": "1.1.1", "title": "Ban hành kế hoạch đúng hạn", "max_points": "1",
                     "method": {"kind": "boolean"}, "evidence": "Kế hoạch CCHC năm"},
                    {"code": "1.1.2", "title": "Mức độ hoàn thành kế hoạch", "max_points": "2",
                     "method": {"kind": "tiered", "basis": "ratio", "bands": [
                         {"from": "100", "points": "2"}, {"from": "80", "points": "1"}]}},
                ]},
                {"code": "1.2", "title": "Báo cáo định kỳ", "max_points": "1.5",
                 "method": {"kind": "deduction", "points_per_violation": "0.5"}},
                {"code": "1.3", "title": "Kiểm tra CCHC", "max_points": "1.5",
                 "method": {"kind": "proportional", "full_at": "0.3"}},
            ]},
            {"code": "2", "title": "Cải cách thể chế", "max_points": "8", "children": [
                {"code": "2.1", "title": "Tham mưu VBQPPL", "max_points": "3",
                 "method": {"kind": "proportional"}, "not_applicable": "drop_from_denominator"},
                {"code": "2.2", "title": "Theo dõi thi hành pháp luật", "max_points": "2",
                 "method": {"kind": "count", "points_per_unit": "1"}},
                {"code": "2.3", "title": "Sáng kiến", "max_points": "2",
                 "method": {"kind": "levels", "levels": [
                     {"code": "tinh", "title": "Cấp tỉnh công nhận", "share": "1"},
                     {"code": "don-vi", "title": "Cấp đơn vị", "share": "0.5"},
                     {"code": "khong", "title": "Không có", "share": "0"}]}},
                {"code": "2.4", "title": "Xin lỗi khi trễ hạn", "max_points": "1",
                 "method": {"kind": "judgement"}, "not_applicable": "credit_max"},
            ]},
            {"code": "8", "title": "Điều tra xã hội học", "max_points": "6", "children": [
                {"code": "8.1", "title": "Khảo sát CBCC", "max_points": "3",
                 "method": {"kind": "survey", "instrument": "KSCB"}},
                {"code": "8.2", "title": "SIPAS", "max_points": "3",
                 "method": {"kind": "survey", "instrument": "SIPAS"}},
            ]},
        ],
    }


# Two self-assessments that differ on every self-scored item, so each save of one after the
# other records 8 events (an unchanged value records none).
ALL_ITEMS_A = [
    SelfScoreEntry("1.1.1", {"done": True}, note="QĐ ban hành ngày 10/01"),
    SelfScoreEntry("1.1.2", {"numerator": 20, "denominator": 20}),
    SelfScoreEntry("1.2", {"violations": 0}),
    SelfScoreEntry("1.3", {"numerator": 3, "denominator": 10}),
    SelfScoreEntry("2.1", {"numerator": 4, "denominator": 4}),
    SelfScoreEntry("2.2", {"count": 2}),
    SelfScoreEntry("2.3", {"level": "tinh"}),
    SelfScoreEntry("2.4", points="1"),
]
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
