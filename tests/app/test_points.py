"""Rule 1: points are in [0, max] at two decimals, never floats, wherever a person sends them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.cycle.phases import Phase
from domain.errors import InvalidInput
from domain.scorecard.model import SelfScoreEntry
from tests.app.helpers import rejected
from tests.builders import (
    APPRAISER,
    SECRETARIAT,
    adjust,
    cycle_with_units,
    new_import_id,
    officer,
)

BAD_POINTS = [
    pytest.param("1.01", id="over-max"),
    pytest.param("-0.5", id="negative"),
    pytest.param("0.333", id="three-decimals"),
    pytest.param(0.5, id="float"),
    pytest.param("abc", id="not-a-number"),
]
# Survey items 8.1 and 8.2 are worth 3; the judgement item 2.4 is worth 1.
BAD_SURVEY_POINTS = ["3.01", "-1", "1.234", 1.5]


@pytest.mark.parametrize("points", BAD_POINTS)
def test_a_self_score_outside_0_to_max_at_two_decimals_is_refused(app, points):
    scenario = cycle_with_units(app)
    rejected(app, InvalidInput, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"], [SelfScoreEntry("2.4", points=points)]),
        item="2.4", field="points")


@pytest.mark.parametrize("points", ["0", "1", "1.00", "0.25", 1])
def test_a_self_score_from_0_to_max_at_two_decimals_is_recorded(app, points):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"],
                           [SelfScoreEntry("2.4", points=points)])
    card = app.scorecard(scenario.scorecards["STC"])
    assert card.item("2.4").self_points == Decimal(str(points))


def test_a_save_with_one_bad_entry_records_none_of_its_entries(app):
    scenario = cycle_with_units(app)
    rejected(app, InvalidInput, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"],
        [SelfScoreEntry("2.3", {"level": "tinh"}), SelfScoreEntry("2.4", points="2")]),
        item="2.4", field="points")
    assert app.scorecard(scenario.scorecards["STC"]).item("2.3").self_points is None


@pytest.mark.parametrize("points", BAD_POINTS)
def test_an_appraisal_adjustment_outside_0_to_max_at_two_decimals_is_refused(app, points):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, InvalidInput, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", points)]),
        item="2.4", field="points")


def test_an_appraisal_adjustment_at_the_maximum_and_at_zero_is_recorded(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    app.appraise(APPRAISER, scenario.scorecards["STC"], 1,
                 [adjust("2.4", "1.00"), adjust("1.2", "0")])
    card = app.scorecard(scenario.scorecards["STC"])
    assert card.item("2.4").round1_points == Decimal("1")
    assert card.item("1.2").round1_points == Decimal("0")


@pytest.mark.parametrize("points", BAD_SURVEY_POINTS)
def test_survey_points_outside_0_to_max_at_two_decimals_are_refused(app, points):
    scenario = cycle_with_units(app)
    rejected(app, InvalidInput, lambda: app.apply_survey_points(
        SECRETARIAT, scenario.cycle_id, new_import_id(),
        [{"unit_code": "STC", "item_code": "8.1", "points": points}]),
        item="8.1", field="results[0].points")


def test_a_survey_import_with_one_bad_row_applies_none_of_its_rows(app):
    scenario = cycle_with_units(app)
    rejected(app, InvalidInput, lambda: app.apply_survey_points(
        SECRETARIAT, scenario.cycle_id, new_import_id(),
        [{"unit_code": "STC", "item_code": "8.1", "points": "2.5"},
         {"unit_code": "SNV", "item_code": "8.1", "points": "3.5"}]),
        item="8.1", field="results[1].points")
    assert app.scorecard(scenario.scorecards["STC"]).item("8.1").survey_points is None


def test_survey_points_at_the_maximum_are_applied(app):
    scenario = cycle_with_units(app)
    app.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(),
                            [{"unit_code": "STC", "item_code": "8.1", "points": "3"},
                             {"unit_code": "STC", "item_code": "8.2", "points": "2.75"}])
    _, _, sheet = app.score_sheet(scenario.scorecards["STC"])
    assert sheet.survey_part == Decimal("5.75")


@pytest.mark.parametrize("points", BAD_POINTS)
def test_a_correction_outside_0_to_max_at_two_decimals_is_refused(app, points):
    scenario = cycle_with_units(app)
    scenario.publish()
    assert app.cycle(scenario.cycle_id).phase is Phase.PUBLISHED
    rejected(app, InvalidInput, lambda: app.correct_points(
        SECRETARIAT, scenario.scorecards["STC"], "2.4", points, "Sai sót khi tổng hợp",
        "QĐ 200/QĐ-UBND"), item="2.4", field="points")


def test_negative_zero_is_recorded_as_plain_zero(app):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"],
                           [SelfScoreEntry("2.4", points="-0")])
    points = app.scorecard(scenario.scorecards["STC"]).item("2.4").self_points
    assert str(points) == "0.00"
