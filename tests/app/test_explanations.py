"""Rules 6 and 7: explanations, their window and per-unit extensions; round 2 touches only
explained or flagged items, and an accepted explanation changes the final points."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from domain.cycle.phases import Phase
from domain.errors import (
    DeadlinePassed,
    ExplanationNotAllowed,
    ReappraisalNotAllowed,
    WorkflowIncomplete,
)
from domain.scorecard.model import AppraisalEntry, Scorecard
from domain.scorecard.state import Decision, PointsSource
from tests.app.helpers import accept_all, advance, events_of, full_marks_but, past, rejected
from tests.builders import APPRAISER, SECRETARIAT, adjust, cycle_with_units, head, officer

TEXT = "Đơn vị đã xin lỗi bằng văn bản đủ 3/3 hồ sơ trễ hạn (kèm văn bản)"


def test_an_item_appraised_below_its_self_score_can_be_explained(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    app.explain(officer("STC"), scenario.scorecards["STC"], "2.4", TEXT)
    [event] = events_of(app, scenario.scorecards["STC"], Scorecard.ExplanationSubmitted)
    assert (event.item_code, event.text, event.evidence) == ("2.4", TEXT, [])
    assert app.scorecard(scenario.scorecards["STC"]).item("2.4").explanation == TEXT


def test_an_item_flagged_for_explanation_can_be_explained_even_if_accepted(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [AppraisalEntry("1.3", Decision.ACCEPTED,
                                                    request_explanation=True)]})
    app.explain(head("STC"), scenario.scorecards["STC"], "1.3", "Đã kiểm tra 3/10 đơn vị")
    assert app.scorecard(scenario.scorecards["STC"]).item("1.3").explanation


def test_an_item_accepted_without_a_flag_cannot_be_explained(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    rejected(app, ExplanationNotAllowed, lambda: app.explain(
        officer("STC"), scenario.scorecards["STC"], "2.3", TEXT), item="2.3")


def test_an_item_adjusted_upwards_cannot_be_explained(app):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"],
                           full_marks_but({"2.4": "0.5"}))
    app.submit_self_assessment(head("STC"), scenario.scorecards["STC"])
    scenario.submit_full_marks("SNV")
    advance(scenario, Phase.APPRAISAL_1)
    app.appraise(APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", "1", "Đủ hồ sơ")])
    accept_all(scenario, 1)
    advance(scenario, Phase.EXPLANATION)
    rejected(app, ExplanationNotAllowed, lambda: app.explain(
        officer("STC"), scenario.scorecards["STC"], "2.4", TEXT), item="2.4")


def test_an_explanation_after_the_window_closed_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    past(scenario, Phase.EXPLANATION)
    rejected(app, DeadlinePassed, lambda: app.explain(
        officer("STC"), scenario.scorecards["STC"], "2.4", TEXT), item="2.4")


def test_an_explanation_exactly_at_the_deadline_is_accepted(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    app.clock.now = scenario.deadline(Phase.EXPLANATION)
    app.explain(officer("STC"), scenario.scorecards["STC"], "2.4", TEXT)


def test_an_explanation_extension_lets_that_unit_explain_late_and_only_that_unit(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")], "SNV": [adjust("2.4", "0")]})
    deadline = scenario.deadline(Phase.EXPLANATION)
    app.extend_deadline(SECRETARIAT, scenario.cycle_id, "STC", Phase.EXPLANATION,
                        deadline + timedelta(days=2), "Lãnh đạo đi công tác")
    past(scenario, Phase.EXPLANATION, minutes=60)
    app.explain(officer("STC"), scenario.scorecards["STC"], "2.4", TEXT)
    rejected(app, DeadlinePassed, lambda: app.explain(
        officer("SNV"), scenario.scorecards["SNV"], "2.4", TEXT), item="2.4")
    # the phase stays open until the latest extension has passed
    rejected(app, WorkflowIncomplete, lambda: app.advance_phase(
        SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_2))
    app.clock.now = deadline + timedelta(days=2, minutes=1)
    advance(scenario, Phase.APPRAISAL_2)


def test_round_2_refuses_an_item_neither_explained_nor_flagged(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_2({"STC": [adjust("2.4", "0"), adjust("2.3", "1")]})
    # 2.3 was adjusted below the self-score but the unit did not explain it
    for code in ("2.3", "1.2"):
        rejected(app, ReappraisalNotAllowed, lambda c=code: app.appraise(
            APPRAISER, scenario.scorecards["STC"], 2, [adjust(c, "0.5", "Xem lại")]), item=code)


def test_round_2_takes_explained_and_flagged_items(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0"),
                                     AppraisalEntry("1.3", Decision.ACCEPTED,
                                                    request_explanation=True)]})
    app.explain(officer("STC"), scenario.scorecards["STC"], "2.4", TEXT)
    past(scenario, Phase.EXPLANATION)
    advance(scenario, Phase.APPRAISAL_2)
    card_ref = scenario.scorecards["STC"]
    assert app.scorecard(card_ref).unappraised(app.framework_tree(scenario.framework_id), 2) \
        == ["1.3", "2.4"]
    app.appraise(APPRAISER, card_ref, 2, [adjust("1.3", "1", "Chỉ kiểm tra 2/10 đơn vị"),
                                          AppraisalEntry("2.4", Decision.ACCEPTED)])
    card, _, sheet = app.score_sheet(card_ref)
    assert card.item("1.3").final == (Decimal("1"), PointsSource.APPRAISAL_2)
    assert card.item("2.4").final == (Decimal("0"), PointsSource.APPRAISAL_1)
    assert sheet.total == Decimal("12.5")


def test_an_explanation_that_restores_points_in_round_2_changes_final_points_and_total(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    card_ref = scenario.scorecards["STC"]
    _, _, before = app.score_sheet(card_ref)
    assert before.total == Decimal("13")
    app.explain(officer("STC"), card_ref, "2.4", TEXT)
    past(scenario, Phase.EXPLANATION)
    advance(scenario, Phase.APPRAISAL_2)
    app.appraise(APPRAISER, card_ref, 2, [adjust("2.4", "1", "Giải trình hợp lý")])
    card, _, after = app.score_sheet(card_ref)
    assert card.item("2.4").final == (Decimal("1"), PointsSource.APPRAISAL_2)
    assert after.total == Decimal("14")
    assert after.nodes["2"].points == Decimal("8")
    accept_all(scenario, 2)
    advance(scenario, Phase.COUNCIL)

