"""Rule 3: survey-fed items take their points from survey imports only."""

from __future__ import annotations

from decimal import Decimal

from domain.errors import InvalidInput, SurveyItemNotSelfScored
from domain.scorecard.model import AppraisalEntry, SelfScoreEntry
from domain.scorecard.state import Decision
from tests.app.helpers import rejected
from tests.builders import (
    APPRAISER,
    SECRETARIAT,
    adjust,
    cycle_with_units,
    full_marks,
    new_import_id,
    officer,
)


def test_a_survey_fed_item_cannot_be_self_scored(app):
    scenario = cycle_with_units(app)
    rejected(app, SurveyItemNotSelfScored, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"],
        [*full_marks(), SelfScoreEntry("8.1", points="3")]), item="8.1")
    assert app.scorecard(scenario.scorecards["STC"]).item("2.4").self_points is None


def test_a_survey_fed_item_cannot_be_declared_not_applicable(app):
    scenario = cycle_with_units(app)
    rejected(app, SurveyItemNotSelfScored, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"],
        [SelfScoreEntry("8.2", not_applicable=True)]), item="8.2")


def test_a_survey_fed_item_cannot_be_adjusted_by_an_appraiser(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, SurveyItemNotSelfScored, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 1, [adjust("8.1", "1")]), item="8.1")


def test_a_survey_fed_item_cannot_be_accepted_by_an_appraiser(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, SurveyItemNotSelfScored, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 1, [AppraisalEntry("8.2", Decision.ACCEPTED)]),
        item="8.2")


def test_survey_points_go_to_survey_fed_items_only(app):
    scenario = cycle_with_units(app)
    rejected(app, InvalidInput, lambda: app.apply_survey_points(
        SECRETARIAT, scenario.cycle_id, new_import_id(),
        [{"unit_code": "STC", "item_code": "2.4", "points": "1"}]),
        item="2.4", field="results[0].item_code")


def test_survey_points_count_in_the_survey_part_and_round_1_leaves_them_alone(app):
    scenario = cycle_with_units(app)
    app.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(),
                            [{"unit_code": "STC", "item_code": "8.1", "points": "2.5"}])
    scenario.to_appraisal_1()
    app.accept_remaining(APPRAISER, scenario.scorecards["STC"], 1)
    card, _, sheet = app.score_sheet(scenario.scorecards["STC"])
    assert card.item("8.1").round1_decision is None
    assert sheet.survey_part == Decimal("2.5")
    assert sheet.total == Decimal("16.5")
