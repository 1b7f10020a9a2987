"""The scoreboard: folds the event log into the read models, with the write side's own code.

Events are applied to the same domain aggregates the commands use (`event.mutate`), so a view
can never disagree with the rules about what an event means; totals come from the same scoring
engine. From the folded aggregates this module derives plain rows (dicts of JSON-ready values):
one per cycle, one per scorecard (summary, every node's points, every item's detail), one per
framework, and one audit row per event that changes a point, an explanation or evidence.
Pure: no I/O here. `runner.py` feeds it and `store.py` persists what it derives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple
from uuid import UUID

from domain.cycle.model import AssessmentCycle
from domain.framework.model import Framework
from domain.framework.structure import FrameworkTree, Node
from domain.points import percent_of
from domain.scorecard.model import Scorecard
from domain.scorecard.state import PointsSource
from domain.scoring import ItemInput, ScoreSheet, score
from projections.cells import iso, text

Aggregate = Framework | AssessmentCycle | Scorecard
FOLDED: dict[str, type] = {"Framework": Framework, "AssessmentCycle": AssessmentCycle,
                           "Scorecard": Scorecard}


Change = tuple[str, str | None, str | None, str | None, str | None, str | None]


class AuditRow(NamedTuple):
    """One audit-trail row, cell-ready in the table's column order (projections/store.py
    copies it as it is): ids and times as text, points as exact text."""

    position: int
    event_id: str
    recorded_at: str
    cycle_id: str
    scorecard_id: str
    unit_code: str
    item_code: str | None
    kind: str
    old_value: str | None
    new_value: str | None
    actor_id: str
    actor_role: str
    reason: str | None
    decision_ref: str | None


@dataclass
class Scoreboard:
    """Aggregates folded from events, and what changed since the last `take_changes()`."""

    frameworks: dict[UUID, Framework] = field(default_factory=dict)
    cycles: dict[UUID, AssessmentCycle] = field(default_factory=dict)
    cards: dict[UUID, Scorecard] = field(default_factory=dict)
    trees: dict[UUID, FrameworkTree] = field(default_factory=dict)
    changed: set[UUID] = field(default_factory=set)
    audit: list[AuditRow] = field(default_factory=list)
    times: list[tuple[int, str]] = field(default_factory=list)
    position: int = 0
    loader: Callable[[UUID, int | None], Any] | None = None
    # A card's (cycle id, card id) as text, for its audit rows.
    card_texts: dict[UUID, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def loading_from(cls, app: Any) -> Scoreboard:
        """A board that loads what it did not fold — an aggregate as it stood before an event,
        a framework — with the application's repository (from the nearest snapshot)."""
        return cls(loader=lambda aggregate_id, version: app.repository.get(aggregate_id,
                                                                           version=version))

    # -- folding ------------------------------------------------------------------------------

    def aggregate(self, originator_id: UUID) -> Aggregate | None:
        return (self.cards.get(originator_id) or self.cycles.get(originator_id)
                or self.frameworks.get(originator_id))

    def adopt(self, aggregate: Aggregate) -> None:
        """Take an aggregate loaded from the store (a runner resuming after a restart)."""
        if isinstance(aggregate, Scorecard):
            self.cards[aggregate.id] = aggregate
        elif isinstance(aggregate, AssessmentCycle):
            self.cycles[aggregate.id] = aggregate
        elif isinstance(aggregate, Framework):
            self.frameworks[aggregate.id] = aggregate
            self.trees.pop(aggregate.id, None)

    def apply(self, event: Any, position: int) -> None:
        """Fold one event. A runner resuming mid-log loads the aggregate as it stood just before
        the event (`loader`); a rebuild from position 0 never needs to."""
        recorded_at = iso(event.timestamp)
        self.times.append((position, recorded_at))
        self.position = position
        folded_kind = _folded_kind(type(event))
        if folded_kind is None:
            return  # e.g. access tokens: in the log, in no view
        current = self.aggregate(event.originator_id)
        if current is None and event.originator_version > 1:
            if self.loader is None:
                raise LookupError(f"event {event.originator_id}:{event.originator_version} "
                                  "arrived before its aggregate's earlier events")
            current = self.loader(event.originator_id, event.originator_version - 1)
            self.adopt(current)
        if folded_kind is not Scorecard:
            folded = event.mutate(current)
            self.adopt(folded)
            self.changed.add(folded.id)
            return
        change = AUDITED.get(type(event))
        # `tree()` loads the framework when this board did not fold it (a runner resuming
        # mid-log, a rebuild worker not owning it): without it, no old and new points.
        node = None if change is None or change.item is None else \
            self.tree(current.framework_id).nodes[getattr(event, change.item)]
        before = None if node is None else text(current.counted_points(node))
        card = event.mutate(current)
        if card is not current:  # opened by this event
            self.cards[card.id] = card
        self.changed.add(card.id)
        if change is None:
            return
        after = None if node is None else text(card.counted_points(node))
        kind, item_code, old, new, reason, decision_ref = change.describe(event, before, after)
        texts = self.card_texts.get(card.id)
        if texts is None:
            texts = self.card_texts[card.id] = (str(card.cycle_id), str(card.id))
        self.audit.append(AuditRow(
            position, f"{texts[1]}:{event.originator_version}", recorded_at, texts[0],
            texts[1], card.unit_code, item_code, kind, old, new, event.actor_id,
            event.actor_role.value, reason, decision_ref))

    def take_changes(self) -> tuple[set[UUID], list[AuditRow], list[tuple[int, str]]]:
        changes = (self.changed, self.audit, self.times)
        self.changed, self.audit, self.times = set(), [], []
        return changes

    def tree(self, framework_id: UUID) -> FrameworkTree:
        tree = self.trees.get(framework_id)
        if tree is None:
            framework = self.frameworks.get(framework_id)
            if framework is None:
                # Scorecards only use published frameworks, which never change: the stored
                # latest version is the version at any position.
                assert self.loader is not None
                framework = self.loader(framework_id, None)
            tree = self.trees[framework_id] = framework.tree()
        return tree

    def rows(self, changed: set[UUID]) -> dict[str, list[dict[str, Any]]]:
        """View rows for the aggregates that changed, by table."""
        rows: dict[str, list[dict[str, Any]]] = {"frameworks": [], "cycles": [],
                                                 "scorecards": []}
        for aggregate_id in sorted(changed, key=str):
            aggregate = self.aggregate(aggregate_id)
            if isinstance(aggregate, Scorecard):
                rows["scorecards"].append(self.scorecard_row(aggregate))
            elif isinstance(aggregate, AssessmentCycle):
                rows["cycles"].append(self.cycle_row(aggregate))
            elif isinstance(aggregate, Framework):
                rows["frameworks"].append(self.framework_row(aggregate))
        return rows

    # -- rows ---------------------------------------------------------------------------------

    def framework_row(self, framework: Framework) -> dict[str, Any]:
        return {"framework_id": framework.id, "code": framework.code,
                "version": framework.framework_version, "published": framework.is_published,
                "aggregate_version": framework.version, "document": framework.document}

    def cycle_row(self, cycle: AssessmentCycle) -> dict[str, Any]:
        return {
            "cycle_id": cycle.id, "province": cycle.province, "year": cycle.year,
            "title": cycle.title, "phase": cycle.phase.value,
            "ranking_rule": cycle.ranking_rule.value, "aggregate_version": cycle.version,
            "detail": {
                "groups": [{"code": g["code"], "name": g["name"],
                            "framework_id": str(g["framework_id"]),
                            "classification": g["classification"]}
                           for g in cycle.groups.values()],
                "schedule": {phase.value: moment.isoformat()
                             for phase, moment in cycle.schedule.items()},
                "extensions": [{"unit_code": unit, "phase": phase.value,
                                "until": until.isoformat()}
                               for (unit, phase), until in sorted(
                                   cycle.extensions.items(), key=lambda kv: (kv[0][0],
                                                                             kv[0][1].value))],
                "units": [{"code": code, "name": unit["name"], "group": unit["group"],
                           "ranked": unit["ranked"], "scorecard_id": str(unit["scorecard_id"])}
                          for code, unit in sorted(cycle.units.items())],
                "appraisers": {unit: sorted(ids) for unit, ids in
                               sorted(cycle.appraisers.items())},
                "approval": cycle.approval,
                "publication": None if cycle.publication is None else {
                    "decision_ref": cycle.publication["decision_ref"],
                    "decision_date": cycle.publication["decision_date"].isoformat()},
            },
        }

    def standing_row(self, card: Scorecard, sheet: ScoreSheet | None = None) -> dict[str, Any]:
        """A scorecard's identity and totals: what rankings need."""
        sheet = sheet or card.sheet(self.tree(card.framework_id))
        return {
            "scorecard_id": card.id, "cycle_id": card.cycle_id, "unit_code": card.unit_code,
            "unit_name": card.unit_name, "group_code": card.group_code, "ranked": card.ranked,
            "framework_id": card.framework_id, "status": card.status.value,
            "aggregate_version": card.version,
            "appraised_part": str(sheet.appraised_part), "survey_part": str(sheet.survey_part),
            "bonus": str(sheet.bonus), "penalty": str(sheet.penalty), "total": str(sheet.total),
        }

    def scorecard_row(self, card: Scorecard) -> dict[str, Any]:
        """The standing plus the self-assessed total and every node's and item's detail."""
        tree = self.tree(card.framework_id)
        sheet = card.sheet(tree)
        self_sheet = score(tree, {
            node.code: ItemInput(points=card.item(node.code).self_points,
                                 not_applicable=card.item(node.code).not_applicable)
            for node in tree.items() if not node.survey_fed})
        return {
            **self.standing_row(card, sheet),
            "self_total": str(self_sheet.appraised_part),
            "detail": {
                "appraised_points": str(sheet.appraised_points),
                "appraised_max": str(sheet.appraised_max),
                "appraised_applicable_max": str(sheet.appraised_applicable_max),
                "survey_max": str(sheet.survey_max),
                "base_total": str(sheet.base_total),
                "total_percent": str(percent_of(sheet.total, tree.total_max)),
                "nodes": {code: [str(n.points), str(n.max_points), str(n.applicable_max),
                                 str(n.percent)] for code, n in sheet.nodes.items()},
                "items": {node.code: item_detail(card, node) for node in tree.items()},
                "bonus_entries": {k: {"points": str(v["points"]), "reason": v["reason"]}
                                  for k, v in sorted(card.bonus.items())},
                "penalty_entries": {k: {"points": str(v["points"]), "reason": v["reason"]}
                                    for k, v in sorted(card.penalty.items())},
            },
        }


def item_detail(card: Scorecard, node: Node) -> dict[str, Any]:
    """Everything about one item, side by side: self, round 1, explanation, round 2, survey,
    correction, and the points that count with where they came from."""
    state = card.item(node.code)
    _, source = state.final
    evidence = [card.evidence[f"{node.code}/{sha}"] for sha in state.evidence]
    return {
        "declared": state.declared, "not_applicable": state.not_applicable,
        "self_points": text(state.self_points), "note": state.note or None,
        "round1": None if state.round1_decision is None else {
            "decision": state.round1_decision.value, "points": text(state.round1_points),
            "explanation_requested": state.explanation_requested},
        "explanation": state.explanation,
        "round2": None if state.round2_decision is None else {
            "decision": state.round2_decision.value, "points": text(state.round2_points)},
        "survey_points": text(state.survey_points),
        "survey_import_id": None if state.survey_import_id is None
        else str(state.survey_import_id),
        "corrected_points": text(state.corrected_points),
        "final_points": text(card.counted_points(node)),
        "source": (PointsSource.SELF.value if source is PointsSource.NONE
                   and state.not_applicable else source.value),
        "evidence": evidence,
    }


# -- audit ------------------------------------------------------------------------------------


@cache
def _folded_kind(event_type: type) -> type | None:
    """The view aggregate an event class belongs to (its qualname's first part), or None."""
    return FOLDED.get(event_type.__qualname__.split(".", 1)[0])


@dataclass(frozen=True)
class Audited:
    """How one event class appears in the audit trail: its kind, the event field naming the
    item whose counted points it may change (None: no item), and its (old, new, reason,
    decision ref) given the item's counted points before and after the event."""

    kind: str | Callable[[Any], str]
    item: str | None
    values: Callable[[Any, str | None, str | None],
                     tuple[str | None, str | None, str | None, str | None]]

    def describe(self, event: Any, before: str | None, after: str | None) -> Change:
        kind = self.kind if isinstance(self.kind, str) else self.kind(event)
        item_code = getattr(event, "item_code", None)
        return (kind, item_code, *self.values(event, before, after))


def _reason(event: Any) -> str | None:
    return event.reason or None


# Events an auditor follows: points, explanations, evidence, bonus and penalty. The old value
# of a point change is the item's counted points before the event; the new, what the event set.
AUDITED: dict[type, Audited] = {
    Scorecard.SelfScoreRecorded: Audited("self_score", "item_code", lambda e, before, _: (
        before, "not applicable" if e.not_applicable else text(e.points), e.note or None,
        None)),
    Scorecard.ItemAppraised: Audited(lambda e: f"appraisal_round_{e.round}", "item_code",
                                     lambda e, before, after: (before, after, _reason(e), None)),
    Scorecard.SurveyPointsApplied: Audited("survey", "item_code", lambda e, before, _: (
        before, text(e.points), f"survey import {e.survey_import_id}", None)),
    Scorecard.PointsCorrected: Audited("correction", None, lambda e, _, __: (
        text(e.previous_points), text(e.points), _reason(e), e.decision_ref)),
    Scorecard.ExplanationSubmitted: Audited("explanation", None, lambda e, _, __: (
        None, None, e.text, None)),
    Scorecard.EvidenceAttached: Audited("evidence_attached", None, lambda e, _, __: (
        None, f"{e.sha256} {e.file_name}", None, None)),
    Scorecard.EvidenceWithdrawn: Audited("evidence_withdrawn", None, lambda e, _, __: (
        e.sha256, None, _reason(e), None)),
    Scorecard.BonusAwarded: Audited("bonus", None, lambda e, _, __: (
        None, text(e.points), _reason(e), None)),
    Scorecard.PenaltyImposed: Audited("penalty", None, lambda e, _, __: (
        None, text(e.points), _reason(e), None)),
    Scorecard.BonusOrPenaltyWithdrawn: Audited("bonus_penalty_withdrawn", None,
                                               lambda e, _, __: (e.entry_id, None, _reason(e),
                                                                 None)),
}
