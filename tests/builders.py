"""Readable set-ups for application tests: a small framework using every scoring method, a
cycle with units, and helpers that walk the cycle through its phases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.cycle.phases import SCHEDULED_PHASES, Phase
from domain.scorecard.model import AppraisalEntry, SelfScoreEntry
from domain.scorecard.state import Decision

SECRETARIAT = Actor("snv.cchc", Role.SECRETARIAT)
COUNCIL = Actor("hd.chu-tich", Role.COUNCIL)
APPRAISER = Actor("tdd.nguyen-van-a", Role.APPRAISER)
INSPECTOR = Actor("thanh-tra.le-b", Role.INSPECTOR)


def officer(unit: str) -> Actor:
    return Actor(f"{unit.lower()}.chuyen-vien", Role.UNIT_OFFICER, unit)


def head(unit: str) -> Actor:
    return Actor(f"{unit.lower()}.giam-doc", Role.UNIT_HEAD, unit)


def small_framework(year: int = 2025, group: str = "SO", **overrides: Any) -> dict[str, Any]:
    """20 points: 14 appraised over every method, 6 survey-fed; caps 2/2."""
    document = {
        "code": f"{group}-{year}", "title": "Khung chấm điểm thử nghiệm", "year": year,
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
    document.update(overrides)
    return document


def full_marks() -> list[SelfScoreEntry]:
    """A self-assessment that claims every appraised point (14)."""
    return [
        SelfScoreEntry("1.1.1", {"done": True}, note="QĐ ban hành ngày 10/01"),
        SelfScoreEntry("1.1.2", {"numerator": 20, "denominator": 20}),
        SelfScoreEntry("1.2", {"violations": 0}),
        SelfScoreEntry("1.3", {"numerator": 3, "denominator": 10}),
        SelfScoreEntry("2.1", {"numerator": 4, "denominator": 4}),
        SelfScoreEntry("2.2", {"count": 2}),
        SelfScoreEntry("2.3", {"level": "tinh"}),
        SelfScoreEntry("2.4", points="1"),
    ]


@dataclass
class Scenario:
    """One province cycle under test, with handles to its ids."""

    app: ParIndex
    framework_id: UUID
    cycle_id: UUID
    units: list[str]
    scorecards: dict[str, UUID] = field(default_factory=dict)

    @property
    def cycle(self):
        return self.app.cycle(self.cycle_id)

    def deadline(self, phase: Phase):
        return self.cycle.schedule[phase]

    def submit_full_marks(self, unit: str) -> None:
        self.app.record_self_scores(officer(unit), self.scorecards[unit], full_marks())
        self.app.submit_self_assessment(head(unit), self.scorecards[unit])

    def to_appraisal_1(self) -> None:
        """Submit every unit at full marks and open round 1."""
        for unit in self.units:
            self.submit_full_marks(unit)
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.APPRAISAL_1)

    def to_explanation(self, adjust: dict[str, list[AppraisalEntry]] | None = None) -> None:
        self.to_appraisal_1()
        for unit in self.units:
            entries = (adjust or {}).get(unit)
            if entries:
                self.app.appraise(APPRAISER, self.scorecards[unit], 1, entries)
            self.app.accept_remaining(APPRAISER, self.scorecards[unit], 1)
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.EXPLANATION)

    def to_appraisal_2(self, adjust: dict[str, list[AppraisalEntry]] | None = None) -> None:
        self.to_explanation(adjust)
        self.app.clock.now = self.deadline(Phase.EXPLANATION) + timedelta(minutes=1)
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.APPRAISAL_2)

    def to_council(self) -> None:
        self.to_appraisal_2()
        for unit in self.units:
            self.app.accept_remaining(APPRAISER, self.scorecards[unit], 2)
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.COUNCIL)

    def publish(self) -> None:
        self.to_council()
        self.app.approve_results(COUNCIL, self.cycle_id, "Biên bản họp Hội đồng số 02/BB-HĐ")
        self.app.publish_results(SECRETARIAT, self.cycle_id, "QĐ 141/QĐ-UBND", date(2026, 2, 14))


def schedule_from(start) -> dict[str, Any]:
    """Self-assessment closes 30 days after `start`, then a phase every 10 days."""
    return {phase.value: start + timedelta(days=30 + 10 * index)
            for index, phase in enumerate(SCHEDULED_PHASES)}


def cycle_with_units(app: ParIndex, units: tuple[str, ...] = ("STC", "SNV"),
                     province: str = "Khánh Hòa", year: int = 2025,
                     open_self_assessment: bool = True) -> Scenario:
    """A published small framework, an opened cycle, units enrolled and an assigned appraiser."""
    framework = app.define_framework(SECRETARIAT, small_framework(year))
    app.publish_framework(SECRETARIAT, framework.aggregate_id)
    opened = app.open_cycle(SECRETARIAT, province=province, year=year,
                            title=f"Chỉ số CCHC năm {year}",
                            groups=[{"code": "SO", "name": "Khối sở, ban, ngành",
                                     "framework_id": str(framework.aggregate_id)}],
                            schedule=schedule_from(app.clock()))
    app.enrol_units(SECRETARIAT, opened.aggregate_id,
                    [{"code": code, "name": f"Đơn vị {code}", "group": "SO"} for code in units])
    app.assign_appraiser(SECRETARIAT, opened.aggregate_id, APPRAISER.id, list(units))
    if open_self_assessment:
        app.advance_phase(SECRETARIAT, opened.aggregate_id, Phase.SELF_ASSESSMENT)
    cycle = app.cycle(opened.aggregate_id)
    return Scenario(app=app, framework_id=framework.aggregate_id,
                    cycle_id=opened.aggregate_id, units=list(units),
                    scorecards={code: cycle.units[code]["scorecard_id"] for code in units})


def new_import_id() -> UUID:
    return uuid4()


def adjust(code: str, points: str, reason: str = "Thiếu tài liệu kiểm chứng",
           request_explanation: bool = False) -> AppraisalEntry:
    return AppraisalEntry(code, Decision.ADJUSTED, points=points, reason=reason,
                          request_explanation=request_explanation)
