"""A national-scale event log: 34 provinces, one assessment cycle each, written through parindex.

Every event is a real parindex domain event, produced by the domain's own public methods with
every rule checked; the projections fold them like any other. The calendar of each cycle is the
demo's (`domain.demo.loader.schedule`), walked by a simulated clock set as `app.clock`, and the
provinces move through it side by side (each step is done for every province before the next), so
the events of the 34 cycles interleave in the log as they would in a national deployment.

How each act is written:

- through the ParIndex API, as batch commands: the frameworks, opening each cycle, enrolling all
  its units (one save: the cycle and every scorecard), appraiser assignments, phase changes, the
  deadline extension, locking overdue sheets, every unit's first self-assessment
  (`record_self_scores` with every item), submission, appraisal round 1 (`appraise` with every
  item) and round 2, bonus and penalty entries, one survey import per province
  (`apply_survey_points` with all rows of the province), approval, publication, corrections;
- on the aggregates directly, one `app.save(*scorecards)` per province and step, where the API
  has only single-item commands: the later self-score edit rounds together with evidence
  attachments and withdrawals, and the explanations with their supplementary evidence. The same
  public `Scorecard` methods the API calls are used, with the cycle's `UnitContext` at the
  simulated time and the published framework tree. After each direct step the generator goes
  on with a newly started ParIndex (see `_restart`).

The volume is set by `Plan`: the number of self-score edit rounds adapts so the log ends just
above the target (every edit changes the item's note, so an edited item is always one event).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from benchmarks.national_frameworks import PARTS, extended_document
from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.cycle.model import AssessmentCycle
from domain.cycle.phases import Phase
from domain.demo.loader import (
    EXPLANATIONS,
    FLAG_REASON,
    GROUPS,
    RESTORED,
    ROUND1_REASONS,
    SATISFIED,
    SILENT,
    UNITS,
    UPHELD,
    DemoClock,
    draw_declared,
    judgement_points,
    lower_alternative,
    schedule,
)
from domain.framework.structure import FrameworkTree, Node
from domain.points import ZERO, round_points
from domain.scorecard.model import AppraisalEntry, Scorecard, SelfScoreEntry
from domain.scorecard.state import Decision, EvidencePurpose

YEAR = 2025
# The 34 provinces and centrally governed cities since 1 July 2025.
PROVINCES = (
    "Hà Nội", "Huế", "Lai Châu", "Điện Biên", "Sơn La", "Lạng Sơn", "Quảng Ninh", "Thanh Hóa",
    "Nghệ An", "Hà Tĩnh", "Cao Bằng", "Tuyên Quang", "Lào Cai", "Thái Nguyên", "Phú Thọ",
    "Bắc Ninh", "Hưng Yên", "Hải Phòng", "Ninh Bình", "Quảng Trị", "Đà Nẵng", "Quảng Ngãi",
    "Gia Lai", "Khánh Hòa", "Lâm Đồng", "Đắk Lắk", "Hồ Chí Minh", "Đồng Nai", "Tây Ninh",
    "Cần Thơ", "Vĩnh Long", "Đồng Tháp", "Cà Mau", "An Giang",
)
SO_UNITS = [u for u in UNITS if u.group == "SO" and YEAR in u.years and u.code != "TTT"]
AUTO_LOCK = Actor("he-thong.khoa-tu-dong", Role.SYSTEM)

# Rates, per mille, of what happens to an item.
EDITED_SHARE = 900  # items edited in a full edit round
EXTRA_EVIDENCE = 120  # items given one more file in an edit round
WITHDRAWN = 15  # items losing a file in an edit round
NOT_APPLICABLE = 150  # items that allow "not applicable" and are declared so
ADJUSTED = 60  # positively scored items cut in round 1
FLAGGED = 20  # items accepted in round 1 but flagged for explanation
EXPLAINED = 600  # cut items the unit explains (flagged ones are always explained)
EXPLANATION_FILE = 400  # explained items given a supplementary file
RESTORE = 550  # explained cuts restored to the self-score in round 2
BONUS = 150  # units awarded a bonus
PENALTY = 100  # units given a penalty
LOCKED_SHARE = Decimal("0.4")  # items the unit locked at the deadline had scored
MAX_ROUNDS = 14  # self-assessment rounds (the first through the API)
EVENTS_PER_CARD = 840  # what a scorecard collects at the default mix (for sizing only)


def at(month: int, day: int, hour: int = 2, minute: int = 0, year: int = YEAR) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.replace("Đ", "D").replace("đ", "d"))
    return "-".join("".join(c for c in plain if c.isascii()).lower().split())


def chance(rng: random.Random, per_mille: int) -> bool:
    return rng.randrange(1000) < per_mille


@dataclass(frozen=True)
class Plan:
    target: int
    provinces: int
    units: int  # per province

    @property
    def cards(self) -> int:
        return self.provinces * self.units


def plan_for(target: int) -> Plan:
    """34 provinces of 30–40 units at national scale; fewer provinces (at least 2, 10+ units
    each) for a small smoke log, so each scorecard keeps a realistic history."""
    cards = max(20, math.ceil(target / EVENTS_PER_CARD))
    if cards >= 30 * len(PROVINCES):
        return Plan(target, len(PROVINCES), max(30, math.ceil(cards / len(PROVINCES))))
    provinces = max(2, min(len(PROVINCES), cards // 12))
    return Plan(target, provinces, max(10, math.ceil(cards / provinces)))


@dataclass
class Unit:
    code: str
    name: str
    group: str
    ranked: bool
    strength: int  # per-mille chance of reaching an item's maximum
    card_id: UUID = field(default=None)  # type: ignore[assignment]
    officer: Actor = field(default=None)  # type: ignore[assignment]
    head: Actor = field(default=None)  # type: ignore[assignment]
    appraiser: Actor = field(default=None)  # type: ignore[assignment]
    declared: dict[str, SelfScoreEntry] = field(default_factory=dict)  # latest entry per item
    files: dict[str, list[str]] = field(default_factory=dict)  # attached sha256 per item
    round1: dict[str, AppraisalEntry] = field(default_factory=dict)  # cuts and flags only
    explained: set[str] = field(default_factory=set)


@dataclass
class Province:
    name: str
    slug: str
    units: list[Unit]
    secretariat: Actor
    council: Actor
    locked: str  # the unit that misses the self-assessment deadline
    extended: str  # the unit given more time
    cycle_id: UUID = field(default=None)  # type: ignore[assignment]
    opened_at: int = 0  # global position of the cycle's first event


@dataclass
class GenerationReport:
    plan: Plan
    events: int
    seconds: float
    rounds: int  # self-assessment rounds (edits per item: about rounds × 0.9)
    last_round_share: float  # share of items edited in the last (partial) round
    steps: list[tuple[str, int, float]]  # (step, events after it, seconds after start)
    provinces: list[Province]
    trees: dict[str, FrameworkTree]
    composition: Counter[str] = field(default_factory=Counter)


class NationalLog:
    def __init__(self, app: ParIndex, plan: Plan, log: Callable[[str], None] = print,
                 seed: str = "parindex-national-bench") -> None:
        self.app = self.given = app
        self.plan = plan
        self.log = log
        self.rng = random.Random(seed)
        self.clock = DemoClock(at(10, 1))
        self.trees: dict[str, FrameworkTree] = {}
        self.framework_ids: dict[str, UUID] = {}
        self.provinces: list[Province] = []
        self.cards: dict[UUID, Scorecard] = {}  # working copies for the direct steps
        self.cycles: dict[UUID, AssessmentCycle] = {}
        self.steps: list[tuple[str, int, float]] = []
        self.rounds = 0
        self.last_share = 1.0
        self.started = 0.0

    # -- driver -------------------------------------------------------------------------------

    def run(self) -> GenerationReport:
        given, original = self.app, self.app.clock
        self.app.clock = self.clock
        self.started = time.perf_counter()
        try:
            for step in (self.frameworks, self.open_cycles, self.self_assessment,
                         self.appraisal_round_1, self.explanations, self.appraisal_round_2,
                         self.bonuses_and_penalties, self.surveys, self.council_and_publication,
                         self.corrections):
                step()
        finally:
            if self.app is not given:
                self.app.close()
                self.app = given
            self.app.clock = original
        for province in self.provinces:  # the working state is not needed any more
            for unit in province.units:
                unit.declared, unit.files, unit.round1, unit.explained = {}, {}, {}, set()
        self.cards.clear()
        return GenerationReport(self.plan, self.head(), time.perf_counter() - self.started,
                                self.rounds, self.last_share, self.steps, self.provinces,
                                self.trees)

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def _done(self, step: str) -> None:
        events, seconds = self.head(), time.perf_counter() - self.started
        self.steps.append((step, events, seconds))
        self.log(f"  {step}: {events:,} events, {seconds:.0f} s "
                 f"({events / max(seconds, 1e-9):,.0f} events/s so far)")

    def _move(self, moment: datetime) -> None:
        self.clock.now = moment

    def _cycle(self, province: Province) -> AssessmentCycle:
        cycle = self.cycles.get(province.cycle_id)
        if cycle is None:
            cycle = self.cycles[province.cycle_id] = self.app.cycle(province.cycle_id)
        return cycle

    def _restart(self) -> None:
        """Continue on a newly started application after a direct step, as a service would
        after a batch job: with an empty aggregate cache its next commands load scorecards
        from their latest snapshot, where the old cache would fast-forward its stale copies
        through every event the direct step wrote."""
        fresh = ParIndex(self.app.settings)
        fresh.clock = self.clock
        if self.app is not self.given:
            self.app.close()
        self.app = fresh

    def _fresh(self, units: list[Unit]) -> list[Scorecard]:
        """Working copies as the store holds them now (after API commands touched them)."""
        for unit in units:
            self.cards[unit.card_id] = self.app.scorecard(unit.card_id)
        return [self.cards[unit.card_id] for unit in units]

    # -- setup (October) ----------------------------------------------------------------------

    def frameworks(self) -> None:
        self._move(at(10, 1))
        admin = Actor("bnv.vu-cchc", Role.SECRETARIAT)
        for group in GROUPS:
            result = self.app.define_framework(admin, extended_document(group, YEAR))
            self.app.publish_framework(admin, result.aggregate_id)
            self.framework_ids[group] = result.aggregate_id
            self.trees[group] = self.app.framework_tree(result.aggregate_id)
        self._done("frameworks")

    def _units(self, province: str) -> list[Unit]:
        rng = random.Random(f"units/{province}")
        n_so = min(len(SO_UNITS) + 1, round(self.plan.units * 0.45))
        units = [Unit(u.code, u.name, "SO", True, rng.randint(620, 960))
                 for u in SO_UNITS[:n_so - 1]]
        units.append(Unit("TTT", "Thanh tra tỉnh", "SO", False, rng.randint(620, 960)))
        for index in range(1, self.plan.units - n_so + 1):
            kind, prefix = ("Phường", "P") if index % 3 == 1 else ("Xã", "X")
            units.append(Unit(f"{prefix}-{index:02d}", f"{kind} số {index}", "XA", True,
                              rng.randint(620, 960)))
        return units

    def open_cycles(self) -> None:
        self._move(at(10, 20))
        for name in PROVINCES[:self.plan.provinces]:
            tag = slug(name)
            units = self._units(name)
            province = Province(
                name=name, slug=tag, units=units,
                secretariat=Actor(f"snv-{tag}.phong-cchc", Role.SECRETARIAT),
                council=Actor(f"hdtd-{tag}.chu-tich", Role.COUNCIL),
                locked=units[-1].code, extended=units[1].code)
            opened = self.app.open_cycle(
                province.secretariat, province=name, year=YEAR,
                title=f"Xác định Chỉ số cải cách hành chính năm {YEAR} của các sở, ban, ngành "
                      f"và UBND các xã, phường tỉnh {name}",
                groups=[{"code": code, "name": title,
                         "framework_id": str(self.framework_ids[code])}
                        for code, title in GROUPS.items()],
                schedule=schedule(YEAR))
            province.cycle_id = opened.aggregate_id
            province.opened_at = opened.position or 0
            self.app.enrol_units(province.secretariat, province.cycle_id, [
                {"code": u.code, "name": u.name, "group": u.group, "ranked": u.ranked}
                for u in units])
            for group in GROUPS:
                codes = [u for u in units if u.group == group]
                half = (len(codes) + 1) // 2
                for number, share in enumerate((codes[:half], codes[half:]), start=1):
                    appraiser = Actor(f"tgv-{tag}.{group.lower()}-{number}", Role.APPRAISER)
                    self.app.assign_appraiser(province.secretariat, province.cycle_id,
                                              appraiser.id, [u.code for u in share])
                    for unit in share:
                        unit.appraiser = appraiser
            self.app.advance_phase(province.secretariat, province.cycle_id,
                                   Phase.SELF_ASSESSMENT)
            cycle = self.app.cycle(province.cycle_id)
            self.cycles[province.cycle_id] = cycle
            for unit in units:
                unit.card_id = cycle.units[unit.code]["scorecard_id"]
                unit.officer = Actor(f"{tag}.{unit.code.lower()}.chuyen-vien-cchc",
                                     Role.UNIT_OFFICER, unit.code)
                unit.head = Actor(f"{tag}.{unit.code.lower()}.thu-truong", Role.UNIT_HEAD,
                                  unit.code)
            self.provinces.append(province)
        self._done("cycles opened, units enrolled")

    # -- self-assessment (November – mid December) --------------------------------------------

    def _entry(self, unit: Unit, node: Node, round_: int) -> SelfScoreEntry:
        rng = self.rng
        report = (f"Báo cáo số {rng.randint(120, 480)}/BC-{unit.code} (cập nhật lần {round_})")
        previous = unit.declared.get(node.code)
        if previous is not None and previous.not_applicable:
            return SelfScoreEntry(node.code, not_applicable=True, note=f"Không phát sinh trong "
                                  f"năm {YEAR}; {report}")
        if previous is None and node.not_applicable and chance(rng, NOT_APPLICABLE):
            return SelfScoreEntry(node.code, not_applicable=True,
                                  note=f"Không phát sinh trong năm {YEAR}; {report}")
        assert node.method is not None
        note = f"{node.evidence or 'Minh chứng'}: kèm {report}"
        if node.method.computes:
            return SelfScoreEntry(node.code, draw_declared(rng, unit.group, node, unit.strength),
                                  note=note)
        return SelfScoreEntry(node.code, points=str(judgement_points(rng, node, unit.strength)),
                              note=note)

    def _self_items(self, unit: Unit) -> list[Node]:
        return [node for node in self.trees[unit.group].items() if not node.survey_fed]

    def self_assessment(self) -> None:
        # Round 1: every unit's first self-assessment, one batch command per unit.
        self._move(at(11, 1))
        for province in self.provinces:
            for unit in province.units:
                items = self._self_items(unit)
                if unit.code == province.locked:
                    items = items[:int(len(items) * LOCKED_SHARE)]
                entries = [self._entry(unit, node, 1) for node in items]
                self.app.record_self_scores(unit.officer, unit.card_id, entries)
                unit.declared = {e.item_code: e for e in entries}
        self.rounds = 1
        self._done("self-assessment round 1 (API, all items per command)")
        for province in self.provinces:
            self._fresh(province.units)
        # Edit rounds until the log will reach the target.
        goal = int(self.plan.target * 1.01)
        while self.rounds < MAX_ROUNDS:
            full = self._round_estimate(1.0)
            remaining = goal - self.head() - self._tail_estimate()
            if remaining <= 0:
                break
            share = 1.0 if remaining >= full else max(0.05, remaining / full)
            self._edit_round(self.rounds + 1, share)
            self.rounds += 1
            self.last_share = share
            self._done(f"self-assessment round {self.rounds} (direct, "
                       f"{share * EDITED_SHARE / 10:.0f} % of items edited)")
            if share < 1.0:
                break
        else:
            self.log(f"  the {MAX_ROUNDS}-round cap was reached before the target")
        self._restart()
        self._deadline()

    def _round_estimate(self, share: float) -> float:
        """Events of one edit round: edited items, extra files, withdrawals (and, in the first
        edit round, one file for every declared item)."""
        total = 0.0
        for province in self.provinces:
            for unit in province.units:
                n = len(unit.declared)
                total += n * (share * EDITED_SHARE + EXTRA_EVIDENCE + WITHDRAWN) / 1000
                if self.rounds == 1:
                    total += sum(1 for e in unit.declared.values() if not e.not_applicable)
        return total

    def _tail_estimate(self) -> float:
        """Events still to come after the edit rounds."""
        total = 0.0
        for province in self.provinces:
            for unit in province.units:
                items = self.trees[unit.group]
                n_self = sum(1 for n in items.items() if not n.survey_fed)
                n_survey = sum(1 for n in items.items() if n.survey_fed)
                cuts = n_self * (ADJUSTED + FLAGGED) / 1000
                total += 1 + n_self + n_survey + cuts * 2.6 + (BONUS + PENALTY) / 1000
        return total + len(self.provinces) * 14

    def _edit_round(self, round_: int, share: float) -> None:
        """Edits, new files and withdrawals on the working copies; one save per province."""
        start = at(11, 2)
        self._move(start + timedelta(days=3 * (round_ - 2), hours=round_ % 7))
        edited = int(EDITED_SHARE * share)
        for province in self.provinces:
            cycle = self._cycle(province)
            cards = []
            for unit in province.units:
                card = self.cards[unit.card_id]
                context = cycle.context_for(unit.code, self.clock())
                tree = self.trees[unit.group]
                nodes = [tree.nodes[code] for code in unit.declared]
                entries = [self._entry(unit, node, round_) for node in nodes
                           if chance(self.rng, edited)]
                if entries:
                    card.record_self_scores(unit.officer, context, tree, entries)
                    unit.declared.update({e.item_code: e for e in entries})
                for node in nodes:
                    if unit.declared[node.code].not_applicable:
                        continue
                    files = unit.files.setdefault(node.code, [])
                    if not files or chance(self.rng, EXTRA_EVIDENCE):
                        self._attach(unit, card, context, tree, node, EvidencePurpose
                                     .SELF_ASSESSMENT)
                    elif len(files) > 1 and chance(self.rng, WITHDRAWN):
                        card.withdraw_evidence(unit.officer, context, node.code, files.pop(0),
                                               "Tệp tải lên nhầm phiên bản; thay bằng tệp đúng")
                cards.append(card)
            self.app.save(*cards)

    def _attach(self, unit: Unit, card: Scorecard, context: Any, tree: FrameworkTree,
                node: Node, purpose: EvidencePurpose) -> None:
        files = unit.files.setdefault(node.code, [])
        number = len(files) + 1
        sha = hashlib.sha256(f"{unit.card_id}/{node.code}/{number}/{purpose.value}".encode()
                             ).hexdigest()
        kind = "giai-trinh" if purpose is EvidencePurpose.EXPLANATION else "minh-chung"
        card.attach_evidence(unit.officer, context, tree, node.code, sha,
                             f"{unit.code}-{node.code}-{kind}-{number}.pdf", "application/pdf",
                             self.rng.randint(40_000, 4_000_000))
        files.append(sha)

    def _deadline(self) -> None:
        """The extension, submissions, the automatic lock at the deadline, the late submission,
        and the move to appraisal."""
        self._move(at(12, 12, 8))
        for province in self.provinces:
            self.app.extend_deadline(province.secretariat, province.cycle_id, province.extended,
                                     Phase.SELF_ASSESSMENT, at(12, 22, 10),
                                     "Công văn đề nghị gia hạn: công chức đầu mối CCHC nghỉ chế "
                                     "độ, việc bàn giao chưa hoàn tất")
        self._move(at(12, 14, 8))
        for province in self.provinces:
            for unit in province.units:
                if unit.code not in (province.locked, province.extended):
                    self.app.submit_self_assessment(unit.head, unit.card_id)
        self._move(at(12, 15, 10, 5))
        for province in self.provinces:
            self.app.lock_overdue_scorecards(AUTO_LOCK, province.cycle_id)
        self._move(at(12, 19, 4))
        for province in self.provinces:
            unit = next(u for u in province.units if u.code == province.extended)
            self.app.submit_self_assessment(unit.head, unit.card_id)
        self._move(at(12, 22))
        for province in self.provinces:
            self.app.advance_phase(province.secretariat, province.cycle_id, Phase.APPRAISAL_1)
        self.cycles.clear()
        self._done("submission, lock at the deadline, extension")

    # -- appraisal round 1 (late December) ----------------------------------------------------

    def appraisal_round_1(self) -> None:
        self._move(at(12, 29))
        for province in self.provinces:
            for unit in province.units:
                card = self.cards[unit.card_id]  # item states are as submitted
                entries = []
                for node in self._self_items(unit):
                    entry = self._round1_entry(unit, card, node)
                    if entry.decision is Decision.ADJUSTED or entry.request_explanation:
                        unit.round1[node.code] = entry
                    entries.append(entry)
                self.app.appraise(unit.appraiser, unit.card_id, 1, entries)
        self._move(at(1, 5, 9, year=YEAR + 1))
        for province in self.provinces:
            self.app.advance_phase(province.secretariat, province.cycle_id, Phase.EXPLANATION)
        self._done("appraisal round 1 (API, all items per command)")

    def _round1_entry(self, unit: Unit, card: Scorecard, node: Node) -> AppraisalEntry:
        state = card.item(node.code)
        assert node.method is not None
        if state.self_points and chance(self.rng, ADJUSTED):
            lower = lower_alternative(node, state.declared, state.self_points)
            if lower is not None:
                declared, points = lower
                return AppraisalEntry(node.code, Decision.ADJUSTED,
                                      points=None if declared else str(points),
                                      declared=declared, reason=ROUND1_REASONS[node.method.kind],
                                      request_explanation=chance(self.rng, 250))
        if state.self_points is not None and chance(self.rng, FLAGGED):
            return AppraisalEntry(node.code, Decision.ACCEPTED, reason=FLAG_REASON,
                                  request_explanation=True)
        return AppraisalEntry(node.code, Decision.ACCEPTED)

    # -- explanations (early January) ---------------------------------------------------------

    def explanations(self) -> None:
        self._move(at(1, 9, 3, year=YEAR + 1))
        for province in self.provinces:
            explaining = [u for u in province.units if u.round1]
            cards = self._fresh(explaining)
            cycle = self._cycle(province)
            for unit, card in zip(explaining, cards, strict=True):
                context = cycle.context_for(unit.code, self.clock())
                tree = self.trees[unit.group]
                for code, entry in sorted(unit.round1.items()):
                    if not (entry.request_explanation or chance(self.rng, EXPLAINED)):
                        continue
                    node = tree.nodes[code]
                    if chance(self.rng, EXPLANATION_FILE):
                        self._attach(unit, card, context, tree, node,
                                     EvidencePurpose.EXPLANATION)
                    assert node.method is not None
                    ref = f"{self.rng.randint(10, 99)}/CV-{unit.code} ngày 08/01/{YEAR + 1}"
                    card.explain(unit.officer, context, tree, code,
                                 EXPLANATIONS[node.method.kind].format(ref=ref))
                    unit.explained.add(code)
            self.app.save(*cards)
        self._restart()
        self._move(at(1, 12, 10, 5, year=YEAR + 1))
        for province in self.provinces:
            self.app.advance_phase(province.secretariat, province.cycle_id, Phase.APPRAISAL_2)
        self.cycles.clear()
        self._done("explanations (direct)")

    # -- appraisal round 2, bonus and penalty, surveys (January) ------------------------------

    def appraisal_round_2(self) -> None:
        self._move(at(1, 19, year=YEAR + 1))
        for province in self.provinces:
            for unit in province.units:
                card = self.cards[unit.card_id]
                entries = [self._round2_entry(unit, card, code, entry)
                           for code, entry in unit.round1.items()
                           if code in unit.explained or entry.request_explanation]
                if entries:
                    self.app.appraise(unit.appraiser, unit.card_id, 2, entries)
        self._done("appraisal round 2 (API)")

    def _round2_entry(self, unit: Unit, card: Scorecard, code: str,
                      first: AppraisalEntry) -> AppraisalEntry:
        if code not in unit.explained:
            return AppraisalEntry(code, Decision.ACCEPTED, reason=SILENT)
        if first.decision is Decision.ADJUSTED and chance(self.rng, RESTORE):
            state = card.item(code)
            node = self.trees[unit.group].nodes[code]
            assert node.method is not None
            if node.method.computes:
                return AppraisalEntry(code, Decision.ADJUSTED, declared=state.declared,
                                      reason=RESTORED)
            return AppraisalEntry(code, Decision.ADJUSTED, points=str(state.self_points),
                                  reason=RESTORED)
        return AppraisalEntry(code, Decision.ACCEPTED,
                              reason=UPHELD if first.decision is Decision.ADJUSTED
                              else SATISFIED)

    def bonuses_and_penalties(self) -> None:
        self._move(at(1, 21, year=YEAR + 1))
        for province in self.provinces:
            withdrawn = False
            for unit in province.units:
                if chance(self.rng, BONUS):
                    self.app.award_bonus(province.council, unit.card_id, "thuong-01",
                                         self.rng.choice(("0.5", "1", "1.5")),
                                         "Đạt giải Hội thi cải cách hành chính cấp tỉnh")
                    if not withdrawn:
                        self.app.withdraw_bonus_or_penalty(
                            province.council, unit.card_id, "thuong-01",
                            "Giải thưởng thuộc năm trước; không tính vào năm đánh giá")
                        self.app.award_bonus(province.council, unit.card_id, "thuong-02", "0.5",
                                             "Mô hình CCHC được UBND tỉnh khen thưởng")
                        withdrawn = True
                if chance(self.rng, PENALTY):
                    self.app.impose_penalty(province.council, unit.card_id, "tru-01",
                                            self.rng.choice(("0.5", "0.75", "1")),
                                            "Để xảy ra sai phạm bị Thanh tra tỉnh kết luận")
        self._done("bonus and penalty (API)")

    def surveys(self) -> None:
        """One import per province with every unit's SIPAS and staff-survey points."""
        self._move(at(1, 23, year=YEAR + 1))
        for province in self.provinces:
            rows = [row for unit in province.units for row in self._survey_rows(unit)]
            import_id = uuid5(NAMESPACE_URL, f"/parindex/bench/{province.slug}/{YEAR}/surveys")
            self.app.apply_survey_points(province.secretariat, province.cycle_id, import_id,
                                         rows)
        self._done("survey imports (API, one per province)")

    def _survey_rows(self, unit: Unit) -> list[dict[str, Any]]:
        rows = []
        respondents = self.rng.randint(60, 220)
        for node in self.trees[unit.group].items():
            if not node.survey_fed:
                continue
            assert node.method is not None
            share = Decimal(self.rng.randint(max(600, unit.strength - 150),
                                             min(990, unit.strength + 40))) / 1000
            if node.method.document()["instrument"] == "SIPAS":
                satisfied = int(respondents * share)
                detail = {"n": respondents, "satisfied": satisfied,
                          "satisfied_share": str((Decimal(satisfied) / respondents)
                                                 .quantize(Decimal("0.0001"))),
                          "element": node.title}
            else:
                detail = {"n": self.rng.randint(18, 60), "index": str(share)}
            rows.append({"unit_code": unit.code, "item_code": node.code,
                         "points": str(round_points(node.max_points * share)),
                         "detail": detail})
        return rows

    # -- council, publication (February), corrections (spring) --------------------------------

    def council_and_publication(self) -> None:
        self._move(at(1, 26, year=YEAR + 1))
        for province in self.provinces:
            self.app.advance_phase(province.secretariat, province.cycle_id, Phase.COUNCIL)
        self._move(at(2, 10, 8, year=YEAR + 1))
        for number, province in enumerate(self.provinces, start=1):
            self.app.approve_results(province.council, province.cycle_id,
                                     f"Biên bản họp Hội đồng thẩm định số {number:02d}/BB-HĐTĐ",
                                     "Hội đồng thống nhất kết quả thẩm định và xếp hạng")
        self._move(at(2, 25, year=YEAR + 1))
        for number, province in enumerate(self.provinces, start=1):
            self.app.publish_results(province.secretariat, province.cycle_id,
                                     f"QĐ {300 + number}/QĐ-UBND", date(YEAR + 1, 2, 25))
        self._done("council approval and publication (API)")

    def corrections(self) -> None:
        self._move(at(4, 8, 3, year=YEAR + 1))
        for number, province in enumerate(self.provinces, start=1):
            for unit in self.rng.sample(province.units, 2):
                node = self.rng.choice(self._self_items(unit))
                points = round_points(node.max_points * Decimal(self.rng.randint(80, 100)) / 100)
                self.app.correct_points(
                    province.secretariat, unit.card_id, node.code, str(max(points, ZERO)),
                    "Số liệu trích xuất từ hệ thống ghi nhận nhầm do lỗi đồng bộ dữ liệu; "
                    "điều chỉnh theo số liệu thực tế", f"QĐ {1000 + number}/QĐ-UBND")
        self._done("corrections after publication (API)")


def composition(app: ParIndex) -> Counter[str]:
    """Events per type, counted in the store (topic → short class name)."""
    recorder: Any = app.recorder
    table = recorder.events_table_name
    if app.settings.kind == "postgresql":
        table = f'"{recorder.datastore.schema}"."{table}"'
    counts: Counter[str] = Counter()
    with recorder.datastore.transaction(commit=False) as cur:
        cur.execute(f"SELECT topic, count(*) AS n FROM {table} GROUP BY topic")
        for row in cur.fetchall():
            counts[row["topic"].rsplit(":", 1)[-1]] += int(row["n"])
    return counts


__all__ = ["PARTS", "GenerationReport", "NationalLog", "Plan", "composition", "plan_for"]
