"""Rule 10: a self-assessment is submitted complete, and evidence-bound items scored above 0
carry evidence or a note saying how they were scored."""

from __future__ import annotations

from decimal import Decimal

from domain.errors import WorkflowIncomplete
from domain.scorecard.model import Scorecard, SelfScoreEntry
from domain.scorecard.state import Status
from tests.app.helpers import events_of, rejected, store_blob, without
from tests.builders import cycle_with_units, full_marks, head, officer


def test_submission_is_refused_while_items_lack_a_self_score(app):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    app.record_self_scores(officer("STC"), card, without(full_marks(), "1.3", "2.2"))
    error = rejected(app, WorkflowIncomplete,
                     lambda: app.submit_self_assessment(head("STC"), card), item="1.3")
    assert "2.2" in str(error)
    assert app.scorecard(card).status is Status.DRAFT


def test_an_item_declared_not_applicable_needs_no_self_score(app):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    app.record_self_scores(officer("STC"), card, [*without(full_marks(), "2.1", "2.4"),
                                                  SelfScoreEntry("2.1", not_applicable=True),
                                                  SelfScoreEntry("2.4", not_applicable=True)])
    app.submit_self_assessment(head("STC"), card)
    [submitted] = events_of(app, card, Scorecard.SelfAssessmentSubmitted)
    # 2.1 leaves the denominator (11/11 rescaled to 14), 2.4 is credited its maximum
    assert submitted.self_total == Decimal("14")


def test_an_evidence_bound_item_scored_above_0_without_evidence_or_note_is_refused(app):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    entries = [*without(full_marks(), "1.1.1"), SelfScoreEntry("1.1.1", {"done": True})]
    app.record_self_scores(officer("STC"), card, entries)
    rejected(app, WorkflowIncomplete, lambda: app.submit_self_assessment(head("STC"), card),
             item="1.1.1")


def test_an_evidence_bound_item_with_evidence_and_no_note_is_submitted(app, tmp_path):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    entries = [*without(full_marks(), "1.1.1"), SelfScoreEntry("1.1.1", {"done": True})]
    app.record_self_scores(officer("STC"), card, entries)
    app.attach_evidence(officer("STC"), card, "1.1.1", store_blob(tmp_path, b"QD ke hoach"),
                        "qd.pdf", "application/pdf")
    app.submit_self_assessment(head("STC"), card)
    assert app.scorecard(card).status is Status.SUBMITTED


def test_an_evidence_bound_item_scored_0_needs_neither_evidence_nor_note(app):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    entries = [*without(full_marks(), "1.1.1"), SelfScoreEntry("1.1.1", {"done": False})]
    app.record_self_scores(officer("STC"), card, entries)
    app.submit_self_assessment(head("STC"), card)
    [submitted] = events_of(app, card, Scorecard.SelfAssessmentSubmitted)
    assert submitted.self_total == Decimal("13")
