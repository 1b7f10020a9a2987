"""The AssessmentCycle aggregate: one province's assessment year.

It holds the unit groups (each with its framework and classification scheme), the enrolled units,
appraiser assignments, the phase schedule with per-unit extensions, and the council's approval and
publication. Rules that depend on scorecards (can a phase close?) are decided here from the
blockers the application collects from the scorecards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.actors import Actor, Role
from domain.base import ParAggregate, by
from domain.cycle.phases import (
    SCHEDULED_PHASES,
    Phase,
    RankingRule,
    classify,
    parse_classification,
)
from domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    NotPermitted,
    PhaseClosed,
    ReasonRequired,
    WorkflowIncomplete,
)
from domain.framework.structure import nfc


def cycle_id(province: str, year: int) -> UUID:
    return uuid5(NAMESPACE_URL, f"/parindex/cycles/{province}/{year}")


def scorecard_id(cycle: UUID, unit_code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/parindex/cycles/{cycle}/scorecards/{unit_code}")


def require_aware(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{field} must carry a time zone (UTC)", field=field)
    return moment


@dataclass(frozen=True)
class UnitContext:
    """What a scorecard command needs to know of its cycle, computed at the command's time."""

    phase: Phase
    now: datetime
    deadline: datetime | None
    appraisers: frozenset[str]

    @property
    def deadline_passed(self) -> bool:
        return self.deadline is not None and self.now > self.deadline


class AssessmentCycle(ParAggregate):
    class Opened(ParAggregate.Created):
        province: str
        year: int
        title: str
        ranking_rule: RankingRule
        groups: list[dict[str, Any]]
        schedule: dict[str, datetime]

    class UnitEnrolled(ParAggregate.Event):
        unit_code: str
        unit_name: str
        group_code: str
        ranked: bool
        scorecard_id: UUID

    class AppraiserAssigned(ParAggregate.Event):
        appraiser_id: str
        unit_codes: list[str]

    class PhaseAdvanced(ParAggregate.Event):
        from_phase: Phase
        to_phase: Phase

    class DeadlineExtended(ParAggregate.Event):
        unit_code: str
        phase: Phase
        until: datetime
        reason: str

    class ResultsApproved(ParAggregate.Event):
        decision_ref: str
        note: str

    class ResultsPublished(ParAggregate.Event):
        decision_ref: str
        decision_date: date

    @staticmethod
    def create_id(province: str, year: int, **_: Any) -> UUID:
        return cycle_id(province, year)

    @classmethod
    def open(cls, actor: Actor, *, province: str, year: int, title: str,
             groups: list[dict[str, Any]], schedule: dict[str, datetime],
             ranking_rule: RankingRule = RankingRule.COMPETITION) -> AssessmentCycle:
        """Groups arrive checked by the application (frameworks exist and are published)."""
        actor.require(Role.SECRETARIAT, act="opening a cycle")
        province = nfc(province, field="province")
        if not 2000 <= year <= 2100:
            raise InvalidInput(f"year {year} is outside 2000..2100", field="year")
        if not groups:
            raise InvalidInput("a cycle needs at least one unit group", field="groups")
        codes = [group["code"] for group in groups]
        if len(set(codes)) != len(codes):
            raise InvalidInput("group codes must be unique", field="groups")
        stored_groups = [
            {"code": group["code"], "name": nfc(group.get("name"), field="groups.name"),
             "framework_id": group["framework_id"],
             "classification": parse_classification(group.get("classification"),
                                                    group["code"])}
            for group in groups]
        return cls(province=province, year=year, title=nfc(title, field="title"),
                   ranking_rule=ranking_rule, groups=stored_groups,
                   schedule=_checked_schedule(schedule), **by(actor))

    @event(Opened)
    def __init__(self, province: str, year: int, title: str, ranking_rule: RankingRule,
                 groups: list[dict[str, Any]], schedule: dict[str, datetime], actor_id: str,
                 actor_role: Role) -> None:
        self.province = province
        self.year = year
        self.title = title
        self.ranking_rule = ranking_rule
        self.groups = {group["code"]: group for group in groups}
        self.schedule = {Phase(name): moment for name, moment in schedule.items()}
        self.phase = Phase.SETUP
        self.units: dict[str, dict[str, Any]] = {}
        self.appraisers: dict[str, set[str]] = {}
        self.extensions: dict[tuple[str, Phase], datetime] = {}
        self.approval: dict[str, str] | None = None
        self.publication: dict[str, Any] | None = None

    # -- enrolment and assignment -------------------------------------------------------------

    def enrol(self, actor: Actor, *, unit_code: str, unit_name: str, group_code: str,
              ranked: bool) -> UUID:
        actor.require(Role.SECRETARIAT, act="enrolling a unit")
        if self.phase not in (Phase.SETUP, Phase.SELF_ASSESSMENT):
            raise PhaseClosed(f"units are enrolled before appraisal; the cycle is in "
                              f"{self.phase.value}", field="unit_code")
        unit_code = nfc(unit_code, field="unit_code")
        if unit_code in self.units:
            raise AlreadyExists(f"unit {unit_code} is already enrolled", field="unit_code")
        if group_code not in self.groups:
            raise InvalidInput(f"group {group_code!r} is not a group of this cycle "
                               f"({sorted(self.groups)})", field="group_code")
        if not isinstance(ranked, bool):
            raise InvalidInput("ranked must be true or false", field="ranked")
        card = scorecard_id(self.id, unit_code)
        self._unit_enrolled(unit_code=unit_code, unit_name=nfc(unit_name, field="unit_name"),
                            group_code=group_code, ranked=ranked, scorecard_id=card, **by(actor))
        return card

    @event(UnitEnrolled)
    def _unit_enrolled(self, unit_code: str, unit_name: str, group_code: str, ranked: bool,
                       scorecard_id: UUID, actor_id: str, actor_role: Role) -> None:
        self.units[unit_code] = {"name": unit_name, "group": group_code, "ranked": ranked,
                                 "scorecard_id": scorecard_id}

    def assign_appraiser(self, actor: Actor, appraiser_id: str, unit_codes: list[str]) -> None:
        actor.require(Role.SECRETARIAT, act="assigning appraisers")
        if self.phase is Phase.PUBLISHED:
            raise PhaseClosed("the cycle is published")
        appraiser_id = nfc(appraiser_id, field="appraiser_id")
        if not unit_codes:
            raise InvalidInput("name at least one unit", field="unit_codes")
        for code in unit_codes:
            self.unit(code)
        self._appraiser_assigned(appraiser_id=appraiser_id, unit_codes=sorted(set(unit_codes)),
                                 **by(actor))

    @event(AppraiserAssigned)
    def _appraiser_assigned(self, appraiser_id: str, unit_codes: list[str], actor_id: str,
                            actor_role: Role) -> None:
        for code in unit_codes:
            self.appraisers.setdefault(code, set()).add(appraiser_id)

    def unit(self, unit_code: str) -> dict[str, Any]:
        try:
            return self.units[unit_code]
        except KeyError:
            raise NotFound(f"unit {unit_code!r} is not enrolled in this cycle",
                           field="unit_code") from None

    # -- schedule -----------------------------------------------------------------------------

    def deadline_for(self, unit_code: str, phase: Phase) -> datetime | None:
        return self.extensions.get((unit_code, phase), self.schedule.get(phase))

    def context_for(self, unit_code: str, now: datetime) -> UnitContext:
        self.unit(unit_code)
        return UnitContext(phase=self.phase, now=require_aware(now, "now"),
                           deadline=self.deadline_for(unit_code, self.phase),
                           appraisers=frozenset(self.appraisers.get(unit_code, ())))

    def extend_deadline(self, actor: Actor, unit_code: str, phase: Phase, until: datetime,
                        reason: str, now: datetime) -> None:
        actor.require(Role.SECRETARIAT, act="extending a deadline")
        self.unit(unit_code)
        if not reason or not reason.strip():
            raise ReasonRequired("an extension needs a reason", field="reason")
        if phase not in (Phase.SELF_ASSESSMENT, Phase.EXPLANATION):
            raise InvalidInput("only the self-assessment and explanation deadlines are per unit",
                               field="phase")
        if self.phase is not phase:
            raise PhaseClosed(f"the cycle is in {self.phase.value}, not {phase.value}",
                              field="phase")
        base = self.schedule[phase]
        if require_aware(until, "until") <= base:
            raise InvalidInput(f"an extension must end after the deadline {base.isoformat()}",
                               field="until")
        if until <= require_aware(now, "now"):
            raise InvalidInput("an extension must end in the future", field="until")
        self._deadline_extended(unit_code=unit_code, phase=phase, until=until,
                                reason=nfc(reason, field="reason"), **by(actor))

    @event(DeadlineExtended)
    def _deadline_extended(self, unit_code: str, phase: Phase, until: datetime, reason: str,
                           actor_id: str, actor_role: Role) -> None:
        self.extensions[(unit_code, phase)] = until

    # -- phases -------------------------------------------------------------------------------

    def advance(self, actor: Actor, to_phase: Phase, now: datetime, blockers: list[str]) -> None:
        """Move to the next phase. `blockers` are what scorecards still lack for it."""
        actor.require(Role.SECRETARIAT, act="advancing the cycle")
        if to_phase is Phase.PUBLISHED:
            raise InvalidInput("publication is its own act: publish the approved results",
                               field="to_phase")
        if self.phase.next is not to_phase:
            raise PhaseClosed(f"the cycle is in {self.phase.value}; the next phase is "
                              f"{self.phase.next.value if self.phase.next else 'none'}",
                              field="to_phase")
        if to_phase is Phase.SELF_ASSESSMENT and not self.units:
            raise WorkflowIncomplete("enrol at least one unit first")
        if self.phase is Phase.EXPLANATION:
            open_until = max((self.deadline_for(code, Phase.EXPLANATION) for code in self.units),
                             default=None)
            if open_until is not None and require_aware(now, "now") <= open_until:
                raise WorkflowIncomplete(f"the explanation window is open until "
                                         f"{open_until.isoformat()}")
        if blockers:
            shown = "; ".join(blockers[:20]) + ("; …" if len(blockers) > 20 else "")
            raise WorkflowIncomplete(f"{self.phase.value} cannot close: {shown}")
        self._advanced(from_phase=self.phase, to_phase=to_phase, **by(actor))

    @event(PhaseAdvanced)
    def _advanced(self, from_phase: Phase, to_phase: Phase, actor_id: str,
                  actor_role: Role) -> None:
        self.phase = to_phase

    def approve(self, actor: Actor, decision_ref: str, note: str = "") -> None:
        actor.require(Role.COUNCIL, act="approving the results")
        if self.phase is not Phase.COUNCIL:
            raise PhaseClosed(f"the council approves in {Phase.COUNCIL.value}; the cycle is in "
                              f"{self.phase.value}")
        self._approved(decision_ref=nfc(decision_ref, field="decision_ref"),
                       note=nfc(note, field="note", required=False), **by(actor))

    @event(ResultsApproved)
    def _approved(self, decision_ref: str, note: str, actor_id: str, actor_role: Role) -> None:
        self.approval = {"decision_ref": decision_ref, "note": note}

    def publish(self, actor: Actor, decision_ref: str, decision_date: date) -> None:
        actor.require(Role.SECRETARIAT, act="publishing the results")
        if self.phase is not Phase.COUNCIL:
            raise PhaseClosed(f"results are published from {Phase.COUNCIL.value}; the cycle is "
                              f"in {self.phase.value}")
        if self.approval is None:
            raise WorkflowIncomplete("the council has not approved the results")
        if not isinstance(decision_date, date) or isinstance(decision_date, datetime):
            raise InvalidInput("decision_date must be a calendar date", field="decision_date")
        self._published(decision_ref=nfc(decision_ref, field="decision_ref"),
                        decision_date=decision_date, **by(actor))

    @event(ResultsPublished)
    def _published(self, decision_ref: str, decision_date: date, actor_id: str,
                   actor_role: Role) -> None:
        self.publication = {"decision_ref": decision_ref, "decision_date": decision_date}
        self.phase = Phase.PUBLISHED

    # -- reading ------------------------------------------------------------------------------

    def framework_of(self, group_code: str) -> UUID:
        return UUID(str(self.groups[group_code]["framework_id"]))

    def classify(self, group_code: str, total: Any) -> str:
        return classify(self.groups[group_code]["classification"], total)

    def check_appraiser(self, actor: Actor, unit_code: str) -> None:
        if actor.role is Role.APPRAISER and actor.id not in self.appraisers.get(unit_code, ()):
            raise NotPermitted(f"appraiser {actor.id} is not assigned to unit {unit_code}")


def _checked_schedule(schedule: dict[str, datetime]) -> dict[str, datetime]:
    if not isinstance(schedule, dict):
        raise InvalidInput("schedule must map phases to deadlines", field="schedule")
    names = {phase.value for phase in SCHEDULED_PHASES}
    unknown = sorted(set(schedule) - names)
    if unknown:
        raise InvalidInput(f"unknown phases in schedule: {unknown}", field=f"schedule.{unknown[0]}")
    missing = [phase.value for phase in SCHEDULED_PHASES if phase.value not in schedule]
    if missing:
        raise InvalidInput(f"schedule lacks deadlines for {missing}",
                           field=f"schedule.{missing[0]}")
    ordered = [require_aware(schedule[phase.value], f"schedule.{phase.value}")
               for phase in SCHEDULED_PHASES]
    for earlier, later, phase in zip(ordered, ordered[1:], SCHEDULED_PHASES[1:], strict=False):
        if later <= earlier:
            raise InvalidInput(f"the {phase.value} deadline must come after the previous one",
                               field=f"schedule.{phase.value}")
    return {phase.value: schedule[phase.value] for phase in SCHEDULED_PHASES}
