"""The Scorecard aggregate: one unit's sheet in one cycle.

Public methods check every rule and compute what the event records; the `@event` methods only
assign, so replaying the log never re-runs a check or reads a clock. The cycle's view of the unit
(phase, deadline, assigned appraisers, the moment of the command) arrives as a `UnitContext`, and
the framework as a parsed tree, so this module stays pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.actors import UNIT_ROLES, Actor, Role
from domain.base import ParAggregate, by
from domain.cycle.model import UnitContext, scorecard_id
from domain.cycle.phases import Phase
from domain.errors import (
    DeadlinePassed,
    ExplanationNotAllowed,
    InvalidInput,
    NotFound,
    NotPermitted,
    PhaseClosed,
    ReappraisalNotAllowed,
    ReasonRequired,
    ScorecardLocked,
    SurveyItemNotSelfScored,
    WorkflowIncomplete,
)
from domain.framework.structure import FrameworkTree, Node, nfc
from domain.points import ZERO, parse_points
from domain.scorecard.state import (
    Decision,
    EvidencePurpose,
    ItemState,
    PointsSource,
    Status,
)
from domain.scoring import ItemInput, ScoreSheet, score

ADJUSTMENT_PHASES = (Phase.APPRAISAL_1, Phase.EXPLANATION, Phase.APPRAISAL_2, Phase.COUNCIL)
SURVEY_PHASES = (Phase.SELF_ASSESSMENT, *ADJUSTMENT_PHASES)
SHA256_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class SelfScoreEntry:
    """One item of a self-assessment save: declared values, points or "not applicable"."""

    item_code: str
    declared: dict[str, Any] | None = None
    points: Any = None
    not_applicable: bool = False
    note: str | None = None


@dataclass(frozen=True)
class AppraisalEntry:
    """One item of an appraisal save. ADJUSTED needs a reason and points or declared values."""

    item_code: str
    decision: Decision
    points: Any = None
    declared: dict[str, Any] | None = None
    reason: str = ""
    request_explanation: bool = False


def _reason(text: str | None, act: str, item: str | None = None) -> str:
    if text is None or not str(text).strip():
        raise ReasonRequired(f"{act} needs a reason", item=item, field="reason")
    return nfc(text, field="reason", item=item)


class Scorecard(ParAggregate):
    class Opened(ParAggregate.Created):
        cycle_id: UUID
        unit_code: str
        unit_name: str
        group_code: str
        framework_id: UUID
        ranked: bool

    class SelfScoreRecorded(ParAggregate.Event):
        item_code: str
        declared: dict[str, Any] | None
        not_applicable: bool
        points: Decimal | None
        note: str

    class EvidenceAttached(ParAggregate.Event):
        item_code: str
        sha256: str
        file_name: str
        media_type: str
        size: int
        purpose: EvidencePurpose

    class EvidenceWithdrawn(ParAggregate.Event):
        item_code: str
        sha256: str
        reason: str

    class SelfAssessmentSubmitted(ParAggregate.Event):
        self_total: Decimal

    class LockedAtDeadline(ParAggregate.Event):
        deadline: datetime

    class ReopenedByExtension(ParAggregate.Event):
        until: datetime
        reason: str

    class ItemAppraised(ParAggregate.Event):
        round: int
        item_code: str
        decision: Decision
        points: Decimal | None
        declared: dict[str, Any] | None
        reason: str
        explanation_requested: bool

    class ExplanationSubmitted(ParAggregate.Event):
        item_code: str
        text: str
        evidence: list[str]

    class BonusAwarded(ParAggregate.Event):
        entry_id: str
        points: Decimal
        reason: str

    class PenaltyImposed(ParAggregate.Event):
        entry_id: str
        points: Decimal
        reason: str

    class BonusOrPenaltyWithdrawn(ParAggregate.Event):
        entry_id: str
        reason: str

    class SurveyPointsApplied(ParAggregate.Event):
        item_code: str
        points: Decimal
        survey_import_id: UUID
        detail: dict[str, Any]

    class PointsCorrected(ParAggregate.Event):
        item_code: str
        previous_points: Decimal | None
        points: Decimal
        reason: str
        decision_ref: str

    @staticmethod
    def create_id(cycle_id: UUID, unit_code: str, **_: Any) -> UUID:
        return scorecard_id(cycle_id, unit_code)

    @event(Opened)
    def __init__(self, cycle_id: UUID, unit_code: str, unit_name: str, group_code: str,
                 framework_id: UUID, ranked: bool, actor_id: str, actor_role: Role) -> None:
        self.cycle_id = cycle_id
        self.unit_code = unit_code
        self.unit_name = unit_name
        self.group_code = group_code
        self.framework_id = framework_id
        self.ranked = ranked
        self.status = Status.DRAFT
        self.items: dict[str, ItemState] = {}
        self.evidence: dict[str, dict[str, Any]] = {}
        self.bonus: dict[str, dict[str, Any]] = {}
        self.penalty: dict[str, dict[str, Any]] = {}

    # Every command loads a copy of the cached scorecard (the cache's defensive deep copy).
    # Nothing here is changed in place below the first level: ItemState is frozen and replaced,
    # and an evidence, bonus or penalty entry is replaced or removed, never edited. So a copy
    # of those four dicts is a full copy, at a fraction of `copy.deepcopy`'s cost for a card of
    # a hundred items. tests/app/test_copies.py holds every command to that rule.
    COPIED_BY_KEY = ("items", "evidence", "bonus", "penalty")

    def __deepcopy__(self, memo: dict[int, Any]) -> Scorecard:
        copied = object.__new__(type(self))
        state = dict(self.__dict__)
        for name in self.COPIED_BY_KEY:
            state[name] = dict(state[name])
        state["_pending_events"] = list(state["_pending_events"])
        copied.__dict__.update(state)
        memo[id(self)] = copied
        return copied

    # -- reading ------------------------------------------------------------------------------

    def item(self, code: str) -> ItemState:
        return self.items.get(code) or ItemState(code=code)

    def counted_points(self, node: Node) -> Decimal | None:
        """The points this item counts for now; None for an item dropped as not applicable."""
        state = self.item(node.code)
        points, source = state.final
        if state.not_applicable and source in (PointsSource.SELF, PointsSource.NONE):
            return node.max_points if node.not_applicable == "credit_max" else None
        return points if points is not None else ZERO

    def sheet(self, tree: FrameworkTree) -> ScoreSheet:
        inputs = {}
        for item in tree.items():
            state = self.item(item.code)
            points, source = state.final
            inputs[item.code] = ItemInput(
                points=points,
                not_applicable=state.not_applicable and source in (PointsSource.SELF,
                                                                   PointsSource.NONE))
        bonus = sum((Decimal(e["points"]) for e in self.bonus.values()), ZERO)
        penalty = sum((Decimal(e["points"]) for e in self.penalty.values()), ZERO)
        return score(tree, inputs, bonus, penalty)

    # -- guards -------------------------------------------------------------------------------

    def _require_own_unit(self, actor: Actor, act: str) -> None:
        actor.require(*UNIT_ROLES, act=act)
        if actor.unit_code != self.unit_code:
            raise NotPermitted(f"{actor.id} acts for unit {actor.unit_code}, not this scorecard's "
                               "unit")

    def _require_unit_editing(self, actor: Actor, context: UnitContext, act: str) -> None:
        self._require_own_unit(actor, act)
        if context.phase is not Phase.SELF_ASSESSMENT:
            raise PhaseClosed(f"{act} happens in {Phase.SELF_ASSESSMENT.value}; the cycle is in "
                              f"{context.phase.value}")
        if self.status is not Status.DRAFT:
            raise ScorecardLocked(f"the scorecard is {self.status.value}; {act} is closed")
        if context.deadline_passed:
            raise DeadlinePassed(f"the self-assessment deadline {context.deadline} has passed")

    def _require_appraiser(self, actor: Actor, context: UnitContext, phases: tuple[Phase, ...],
                           act: str) -> None:
        actor.require(Role.APPRAISER, Role.COUNCIL, Role.SECRETARIAT, act=act)
        if actor.role is Role.APPRAISER and actor.id not in context.appraisers:
            raise NotPermitted(f"appraiser {actor.id} is not assigned to unit {self.unit_code}")
        if context.phase not in phases:
            raise PhaseClosed(f"{act} happens in {', '.join(p.value for p in phases)}; the cycle "
                              f"is in {context.phase.value}")

    # -- self-assessment ----------------------------------------------------------------------

    def record_self_scores(self, actor: Actor, context: UnitContext, tree: FrameworkTree,
                           entries: list[SelfScoreEntry]) -> None:
        """Record declared values and self-scores; all entries are checked before any event."""
        self._require_unit_editing(actor, context, "self-scoring")
        if not entries:
            raise InvalidInput("send at least one item", field="items")
        codes = [entry.item_code for entry in entries]
        if len(set(codes)) != len(codes):
            raise InvalidInput("an item appears twice in one save", field="items")
        recorded = [self._checked_self_score(tree.item(entry.item_code), entry)
                    for entry in entries]
        for kwargs in recorded:
            current = self.item(kwargs["item_code"])
            if (current.declared, current.not_applicable, current.self_points, current.note) == (
                    kwargs["declared"], kwargs["not_applicable"], kwargs["points"],
                    kwargs["note"]):
                continue  # an unchanged value is not a change: no event, no audit noise
            self._self_score_recorded(**kwargs, **by(actor))

    def _checked_self_score(self, node: Node, entry: SelfScoreEntry) -> dict[str, Any]:
        assert node.method is not None
        code = node.code
        if node.survey_fed:
            raise SurveyItemNotSelfScored(f"{code} is survey-fed ({node.method.document()}); its "
                                          "points come from survey imports", item=code)
        note = nfc(entry.note, field="note", item=code, required=False) if entry.note else ""
        if entry.not_applicable:
            if node.not_applicable is None:
                raise InvalidInput(f"{code} cannot be declared not applicable", item=code,
                                   field="not_applicable")
            if entry.declared or entry.points is not None:
                raise InvalidInput("a not-applicable item takes neither declared values nor "
                                   "points", item=code, field="not_applicable")
            return {"item_code": code, "declared": None, "not_applicable": True, "points": None,
                    "note": note}
        given = None if entry.points is None else parse_points(entry.points, item=code)
        if node.method.computes:
            if entry.declared is None:
                raise InvalidInput(f"{code} is computed from declared values "
                                   f"({node.method.kind}); send them", item=code,
                                   field="declared")
            declared = node.method.normalise(dict(entry.declared), code)
            points = node.method.points(declared, node.max_points)
            if given is not None and given != points:
                raise InvalidInput(f"{code}: the declared values give {points} points, not "
                                   f"{given}", item=code, field="points")
        else:
            declared = node.method.normalise(dict(entry.declared or {}), code)
            if given is None:
                raise InvalidInput(f"{code} is scored by judgement: send points", item=code,
                                   field="points")
            points = given
        if points > node.max_points:
            raise InvalidInput(f"{code}: {points} exceeds the maximum {node.max_points}",
                               item=code, field="points")
        return {"item_code": code, "declared": declared or None, "not_applicable": False,
                "points": points, "note": note}

    @event(SelfScoreRecorded)
    def _self_score_recorded(self, item_code: str, declared: dict[str, Any] | None,
                             not_applicable: bool, points: Decimal | None, note: str,
                             actor_id: str, actor_role: Role) -> None:
        self.items[item_code] = self.item(item_code).with_(
            declared=declared, not_applicable=not_applicable, self_points=points, note=note)

    # -- evidence -----------------------------------------------------------------------------

    def attach_evidence(self, actor: Actor, context: UnitContext, tree: FrameworkTree,
                        item_code: str, sha256: str, file_name: str, media_type: str,
                        size: int) -> bool:
        """Attach a stored file to an item; False when it is already attached there."""
        node = tree.item(item_code)
        if context.phase is Phase.EXPLANATION:
            self._require_explaining(actor, context, node.code)
            purpose = EvidencePurpose.EXPLANATION
        else:
            self._require_unit_editing(actor, context, "attaching evidence")
            purpose = EvidencePurpose.SELF_ASSESSMENT
        if len(sha256) != 64 or not set(sha256) <= SHA256_HEX:
            raise InvalidInput("sha256 must be 64 lowercase hex digits", field="sha256",
                               item=item_code)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput("size must be a whole number of bytes", field="size",
                               item=item_code)
        if sha256 in self.item(node.code).evidence:
            return False
        self._evidence_attached(item_code=node.code, sha256=sha256,
                                file_name=nfc(file_name, field="file_name", item=item_code),
                                media_type=nfc(media_type, field="media_type", item=item_code),
                                size=size, purpose=purpose, **by(actor))
        return True

    @event(EvidenceAttached)
    def _evidence_attached(self, item_code: str, sha256: str, file_name: str, media_type: str,
                           size: int, purpose: EvidencePurpose, actor_id: str,
                           actor_role: Role) -> None:
        item = self.item(item_code)
        self.items[item_code] = item.with_(evidence=[*item.evidence, sha256])
        self.evidence[f"{item_code}/{sha256}"] = {
            "item_code": item_code, "sha256": sha256, "file_name": file_name,
            "media_type": media_type, "size": size, "purpose": purpose.value}

    def withdraw_evidence(self, actor: Actor, context: UnitContext, item_code: str, sha256: str,
                          reason: str) -> None:
        if context.phase is Phase.EXPLANATION:
            self._require_explaining(actor, context, item_code)
            entry = self.evidence.get(f"{item_code}/{sha256}")
            if entry is not None and entry["purpose"] != EvidencePurpose.EXPLANATION.value:
                raise ScorecardLocked("evidence of the submitted self-assessment stays; only "
                                      "supplementary evidence can be withdrawn now",
                                      item=item_code)
        else:
            self._require_unit_editing(actor, context, "withdrawing evidence")
        if sha256 not in self.item(item_code).evidence:
            raise NotFound(f"file {sha256} is not attached to {item_code}", item=item_code,
                           field="sha256")
        self._evidence_withdrawn(item_code=item_code, sha256=sha256,
                                 reason=_reason(reason, "withdrawing evidence", item_code),
                                 **by(actor))

    @event(EvidenceWithdrawn)
    def _evidence_withdrawn(self, item_code: str, sha256: str, reason: str, actor_id: str,
                            actor_role: Role) -> None:
        item = self.item(item_code)
        self.items[item_code] = item.with_(evidence=[h for h in item.evidence if h != sha256])
        self.evidence.pop(f"{item_code}/{sha256}", None)

    # -- submission and locking ---------------------------------------------------------------

    def submit(self, actor: Actor, context: UnitContext, tree: FrameworkTree) -> None:
        self._require_unit_editing(actor, context, "submitting")
        if actor.role is not Role.UNIT_HEAD:
            raise NotPermitted("only the unit head submits the self-assessment")
        missing, unexplained = [], []
        for node in tree.items():
            if node.survey_fed:
                continue
            state = self.item(node.code)
            if state.self_points is None and not state.not_applicable:
                missing.append(node.code)
            elif (node.evidence and state.self_points and not state.evidence
                  and not state.note):
                unexplained.append(node.code)
        if missing:
            raise WorkflowIncomplete(f"items without a self-score: {', '.join(missing)}",
                                     item=missing[0])
        if unexplained:
            raise WorkflowIncomplete("items scored above 0 without the required evidence need a "
                                     f"note saying how they were scored: {', '.join(unexplained)}",
                                     item=unexplained[0])
        self._submitted(self_total=self.sheet(tree).total, **by(actor))

    @event(SelfAssessmentSubmitted)
    def _submitted(self, self_total: Decimal, actor_id: str, actor_role: Role) -> None:
        self.status = Status.SUBMITTED

    def lock_at_deadline(self, actor: Actor, context: UnitContext) -> bool:
        """Lock a draft whose deadline has passed, as it stands; False if nothing to lock."""
        actor.require(Role.SECRETARIAT, Role.SYSTEM, act="locking at the deadline")
        if (self.status is not Status.DRAFT or context.phase is not Phase.SELF_ASSESSMENT
                or not context.deadline_passed):
            return False
        assert context.deadline is not None
        self._locked(deadline=context.deadline, **by(actor))
        return True

    @event(LockedAtDeadline)
    def _locked(self, deadline: datetime, actor_id: str, actor_role: Role) -> None:
        self.status = Status.LOCKED

    def reopen_for_extension(self, actor: Actor, phase: Phase, until: datetime,
                             reason: str) -> None:
        """A self-assessment extension reopens a sheet locked at its deadline; an explanation
        extension leaves the sheet as it is (it is appraised whatever its status)."""
        actor.require(Role.SECRETARIAT, act="reopening a scorecard")
        if phase is Phase.SELF_ASSESSMENT and self.status is Status.LOCKED:
            self._reopened(until=until, reason=reason, **by(actor))

    @event(ReopenedByExtension)
    def _reopened(self, until: datetime, reason: str, actor_id: str, actor_role: Role) -> None:
        self.status = Status.DRAFT

    # -- appraisal ----------------------------------------------------------------------------

    def appraise(self, actor: Actor, context: UnitContext, tree: FrameworkTree, round_: int,
                 entries: list[AppraisalEntry]) -> None:
        if round_ not in (1, 2):
            raise InvalidInput("round is 1 or 2", field="round")
        phase = Phase.APPRAISAL_1 if round_ == 1 else Phase.APPRAISAL_2
        self._require_appraiser(actor, context, (phase,), f"appraisal round {round_}")
        if self.status is Status.DRAFT:
            raise PhaseClosed("the scorecard was neither submitted nor locked")
        if not entries:
            raise InvalidInput("send at least one item", field="items")
        codes = [entry.item_code for entry in entries]
        if len(set(codes)) != len(codes):
            raise InvalidInput("an item appears twice in one save", field="items")
        for kwargs in [self._checked_appraisal(tree.item(e.item_code), round_, e)
                       for e in entries]:
            self._appraised(**kwargs, **by(actor))

    def _checked_appraisal(self, node: Node, round_: int, entry: AppraisalEntry
                           ) -> dict[str, Any]:
        assert node.method is not None
        code = node.code
        if node.survey_fed:
            raise SurveyItemNotSelfScored(f"{code} is survey-fed: it is not appraised", item=code)
        state = self.item(code)
        if round_ == 2 and not (state.explanation is not None or state.explanation_requested):
            raise ReappraisalNotAllowed(f"{code} was neither explained nor flagged in round 1",
                                        item=code)
        if not isinstance(entry.decision, Decision):
            raise InvalidInput("decision is 'accepted' or 'adjusted'", item=code,
                               field="decision")
        if round_ == 2 and entry.request_explanation:
            raise InvalidInput("explanations are requested in round 1 only", item=code,
                               field="request_explanation")
        reason = nfc(entry.reason, field="reason", item=code, required=False)
        declared = None
        if entry.decision is Decision.ACCEPTED:
            if entry.points is not None or entry.declared is not None:
                raise InvalidInput("an accepted item takes no points; adjust it instead",
                                   item=code, field="points")
            if round_ == 1:
                points = (None if state.not_applicable
                          else state.self_points if state.self_points is not None else ZERO)
            else:
                points = None  # round 1 stands
        else:
            reason = _reason(entry.reason, "an adjustment", code)
            if entry.declared is not None:
                if not node.method.computes:
                    raise InvalidInput(f"{code} takes points, not declared values", item=code,
                                       field="declared")
                declared = node.method.normalise(dict(entry.declared), code)
                points = node.method.points(declared, node.max_points)
                if entry.points is not None and parse_points(entry.points, item=code) != points:
                    raise InvalidInput(f"{code}: the declared values give {points} points",
                                       item=code, field="points")
            elif entry.points is None:
                raise InvalidInput("an adjustment needs points or declared values", item=code,
                                   field="points")
            else:
                points = parse_points(entry.points, item=code)
            if points > node.max_points:
                raise InvalidInput(f"{code}: {points} exceeds the maximum {node.max_points}",
                                   item=code, field="points")
        return {"round": round_, "item_code": code, "decision": entry.decision,
                "points": points, "declared": declared, "reason": reason,
                "explanation_requested": bool(entry.request_explanation)}

    @event(ItemAppraised)
    def _appraised(self, round: int, item_code: str, decision: Decision, points: Decimal | None,
                   declared: dict[str, Any] | None, reason: str, explanation_requested: bool,
                   actor_id: str, actor_role: Role) -> None:
        item = self.item(item_code)
        if round == 1:
            self.items[item_code] = item.with_(round1_points=points, round1_decision=decision,
                                               explanation_requested=explanation_requested)
        else:
            self.items[item_code] = item.with_(round2_points=points, round2_decision=decision)

    def unappraised(self, tree: FrameworkTree, round_: int) -> list[str]:
        """Items still waiting for a decision in this round."""
        codes = []
        for node in tree.items():
            if node.survey_fed:
                continue
            state = self.item(node.code)
            if round_ == 1 and state.round1_decision is None:
                codes.append(node.code)
            elif (round_ == 2 and state.round2_decision is None
                  and (state.explanation is not None or state.explanation_requested)):
                codes.append(node.code)
        return codes

    # -- explanations -------------------------------------------------------------------------

    def _require_explaining(self, actor: Actor, context: UnitContext, item_code: str) -> None:
        self._require_own_unit(actor, "explaining")
        if context.phase is not Phase.EXPLANATION:
            raise PhaseClosed(f"explanations happen in {Phase.EXPLANATION.value}; the cycle is "
                              f"in {context.phase.value}", item=item_code)
        if context.deadline_passed:
            raise DeadlinePassed(f"the explanation window closed at {context.deadline}",
                                 item=item_code)
        state = self.item(item_code)
        if not (state.appraised_below_self or state.explanation_requested):
            raise ExplanationNotAllowed(f"{item_code} was neither appraised below the self-score "
                                        "nor flagged for explanation", item=item_code)

    def explain(self, actor: Actor, context: UnitContext, tree: FrameworkTree, item_code: str,
                text: str) -> None:
        node = tree.item(item_code)
        self._require_explaining(actor, context, node.code)
        body = nfc(text, field="text", item=node.code)
        supplementary = [h for h in self.item(node.code).evidence
                         if self.evidence[f"{node.code}/{h}"]["purpose"]
                         == EvidencePurpose.EXPLANATION.value]
        self._explained(item_code=node.code, text=body, evidence=supplementary, **by(actor))

    @event(ExplanationSubmitted)
    def _explained(self, item_code: str, text: str, evidence: list[str], actor_id: str,
                   actor_role: Role) -> None:
        self.items[item_code] = self.item(item_code).with_(explanation=text)

    # -- bonus and penalty --------------------------------------------------------------------

    def award_bonus(self, actor: Actor, context: UnitContext, entry_id: str, points: Any,
                    reason: str) -> None:
        self._require_appraiser(actor, context, ADJUSTMENT_PHASES, "awarding a bonus")
        kwargs = self._checked_entry(entry_id, points, reason)
        self._bonus_awarded(**kwargs, **by(actor))

    @event(BonusAwarded)
    def _bonus_awarded(self, entry_id: str, points: Decimal, reason: str, actor_id: str,
                       actor_role: Role) -> None:
        self.bonus[entry_id] = {"points": points, "reason": reason}

    def impose_penalty(self, actor: Actor, context: UnitContext, entry_id: str, points: Any,
                       reason: str) -> None:
        self._require_appraiser(actor, context, ADJUSTMENT_PHASES, "imposing a penalty")
        kwargs = self._checked_entry(entry_id, points, reason)
        self._penalty_imposed(**kwargs, **by(actor))

    @event(PenaltyImposed)
    def _penalty_imposed(self, entry_id: str, points: Decimal, reason: str, actor_id: str,
                         actor_role: Role) -> None:
        self.penalty[entry_id] = {"points": points, "reason": reason}

    def _checked_entry(self, entry_id: str, points: Any, reason: str) -> dict[str, Any]:
        entry_id = nfc(entry_id, field="entry_id")
        if entry_id in self.bonus or entry_id in self.penalty:
            raise InvalidInput(f"entry {entry_id} exists; withdraw it first", field="entry_id")
        value = parse_points(points)
        if value == 0:
            raise InvalidInput("points must be > 0", field="points")
        return {"entry_id": entry_id, "points": value, "reason": _reason(reason, "bonus/penalty")}

    def withdraw_bonus_or_penalty(self, actor: Actor, context: UnitContext, entry_id: str,
                                  reason: str) -> None:
        self._require_appraiser(actor, context, ADJUSTMENT_PHASES, "withdrawing a bonus/penalty")
        if entry_id not in self.bonus and entry_id not in self.penalty:
            raise NotFound(f"no bonus or penalty entry {entry_id}", field="entry_id")
        self._bp_withdrawn(entry_id=entry_id, reason=_reason(reason, "a withdrawal"),
                           **by(actor))

    @event(BonusOrPenaltyWithdrawn)
    def _bp_withdrawn(self, entry_id: str, reason: str, actor_id: str, actor_role: Role) -> None:
        self.bonus.pop(entry_id, None)
        self.penalty.pop(entry_id, None)

    # -- survey points ------------------------------------------------------------------------

    def apply_survey_points(self, actor: Actor, context: UnitContext, tree: FrameworkTree,
                            item_code: str, points: Any, survey_import_id: UUID,
                            detail: dict[str, Any]) -> None:
        actor.require(Role.SECRETARIAT, act="applying survey points")
        if context.phase not in SURVEY_PHASES:
            raise PhaseClosed(f"survey points are applied before publication; the cycle is in "
                              f"{context.phase.value}", item=item_code)
        node = tree.item(item_code)
        if not node.survey_fed:
            raise InvalidInput(f"{item_code} is not survey-fed", item=item_code,
                               field="item_code")
        value = parse_points(points, item=item_code)
        if value > node.max_points:
            raise InvalidInput(f"{item_code}: {value} exceeds the maximum {node.max_points}",
                               item=item_code, field="points")
        self._survey_applied(item_code=item_code, points=value,
                             survey_import_id=survey_import_id, detail=dict(detail), **by(actor))

    @event(SurveyPointsApplied)
    def _survey_applied(self, item_code: str, points: Decimal, survey_import_id: UUID,
                        detail: dict[str, Any], actor_id: str, actor_role: Role) -> None:
        self.items[item_code] = self.item(item_code).with_(survey_points=points,
                                                           survey_import_id=survey_import_id)

    # -- corrections after publication --------------------------------------------------------

    def correct(self, actor: Actor, context: UnitContext, tree: FrameworkTree, item_code: str,
                points: Any, reason: str, decision_ref: str) -> None:
        actor.require(Role.SECRETARIAT, Role.COUNCIL, act="correcting published points")
        if context.phase is not Phase.PUBLISHED:
            raise PhaseClosed("corrections apply to published results; before publication, "
                              "appraise instead", item=item_code)
        node = tree.item(item_code)
        value = parse_points(points, item=node.code)
        if value > node.max_points:
            raise InvalidInput(f"{item_code}: {value} exceeds the maximum {node.max_points}",
                               item=item_code, field="points")
        reason_text = _reason(reason, "a correction", node.code)
        if decision_ref is None or not str(decision_ref).strip():
            raise ReasonRequired("a correction needs the reference of the decision behind it "
                                 "(e.g. QĐ 141/QĐ-UBND)", item=node.code, field="decision_ref")
        self._corrected(item_code=node.code, previous_points=self.counted_points(node),
                        points=value,
                        reason=reason_text,
                        decision_ref=nfc(decision_ref, field="decision_ref"), **by(actor))

    @event(PointsCorrected)
    def _corrected(self, item_code: str, previous_points: Decimal | None, points: Decimal,
                   reason: str, decision_ref: str, actor_id: str, actor_role: Role) -> None:
        self.items[item_code] = self.item(item_code).with_(corrected_points=points)
