"""Rule 8: after publication only corrections change points; a correction names its decision
and keeps the points it replaced."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from domain.cycle.phases import Phase
from domain.errors import PhaseClosed
from domain.scorecard.model import Scorecard, SelfScoreEntry
from domain.scorecard.state import PointsSource
from tests.app.helpers import events_of, rejected
from tests.builders import (
    APPRAISER,
    COUNCIL,
    SECRETARIAT,
    adjust,
    cycle_with_units,
    full_marks,
    head,
    new_import_id,
    officer,
)


def test_after_publication_no_act_but_a_correction_changes_a_scorecard(app):
    scenario = cycle_with_units(app)
    scenario.publish()
    card = scenario.scorecards["STC"]
    for call in (
        lambda: app.record_self_scores(officer("STC"), card, [SelfScoreEntry("2.4", points="0")]),
        lambda: app.submit_self_assessment(head("STC"), card),
        lambda: app.appraise(APPRAISER, card, 1, [adjust("2.4", "0")]),
        lambda: app.appraise(SECRETARIAT, card, 2, [adjust("2.4", "0")]),
        lambda: app.award_bonus(COUNCIL, card, "b1", "1", "Sáng kiến"),
        lambda: app.impose_penalty(SECRETARIAT, card, "p1", "1", "Trễ hạn"),
        lambda: app.explain(officer("STC"), card, "2.4", "Giải trình"),
        lambda: app.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(),
                                        [{"unit_code": "STC", "item_code": "8.1",
                                          "points": "1"}]),
        lambda: app.approve_results(COUNCIL, scenario.cycle_id, "Biên bản 03"),
    ):
        rejected(app, PhaseClosed, call)


def test_a_correction_changes_the_final_points_and_keeps_the_previous_points(app):
    scenario = cycle_with_units(app)
    scenario.publish()
    card_ref = scenario.scorecards["STC"]
    _, _, published = app.score_sheet(card_ref)
    assert published.total == Decimal("14")
    app.correct_points(SECRETARIAT, card_ref, "2.4", "0.5", "Phát hiện 1 hồ sơ chưa xin lỗi",
                       "QĐ 200/QĐ-UBND")
    card, _, corrected = app.score_sheet(card_ref)
    assert card.item("2.4").final == (Decimal("0.5"), PointsSource.CORRECTION)
    assert corrected.total == Decimal("13.5")
    [event] = events_of(app, card_ref, Scorecard.PointsCorrected)
    assert event.previous_points == Decimal("1")
    assert event.points == Decimal("0.5")
    assert event.decision_ref == "QĐ 200/QĐ-UBND"
    assert event.reason == "Phát hiện 1 hồ sơ chưa xin lỗi"
    assert (event.actor_id, event.actor_role) == (SECRETARIAT.id, SECRETARIAT.role)
    # the other unit's published points stand
    assert app.score_sheet(scenario.scorecards["SNV"])[2].total == Decimal("14")


def test_a_second_correction_records_the_first_correction_as_its_previous_points(app):
    scenario = cycle_with_units(app)
    scenario.publish()
    card_ref = scenario.scorecards["STC"]
    app.correct_points(COUNCIL, card_ref, "1.2", "1", "Trễ 1 báo cáo", "QĐ 200/QĐ-UBND")
    app.correct_points(COUNCIL, card_ref, "1.2", "1.5", "Báo cáo đã gửi đúng hạn",
                       "QĐ 215/QĐ-UBND")
    first, second = events_of(app, card_ref, Scorecard.PointsCorrected)
    assert (first.previous_points, first.points) == (Decimal("1.5"), Decimal("1"))
    assert (second.previous_points, second.points) == (Decimal("1"), Decimal("1.5"))
    assert app.score_sheet(card_ref)[2].total == Decimal("14")


def test_a_correction_of_a_survey_item_replaces_the_survey_points(app):
    scenario = cycle_with_units(app)
    app.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(),
                            [{"unit_code": "STC", "item_code": "8.2", "points": "2.4"}])
    scenario.publish()
    card_ref = scenario.scorecards["STC"]
    app.correct_points(SECRETARIAT, card_ref, "8.2", "2.6", "Nhập sai mẫu SIPAS",
                       "QĐ 200/QĐ-UBND")
    [event] = events_of(app, card_ref, Scorecard.PointsCorrected)
    assert event.previous_points == Decimal("2.4")
    _, _, sheet = app.score_sheet(card_ref)
    assert sheet.survey_part == Decimal("2.6")
    assert app.cycle(scenario.cycle_id).phase is Phase.PUBLISHED


def test_a_correction_of_an_item_credited_its_maximum_keeps_the_credited_points(app):
    scenario = cycle_with_units(app)
    entries = [e for e in full_marks() if e.item_code != "2.4"]
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"],
                           [*entries, SelfScoreEntry("2.4", not_applicable=True)])
    app.submit_self_assessment(head("STC"), scenario.scorecards["STC"])
    scenario.submit_full_marks("SNV")
    scenario.app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_1)
    for unit in scenario.units:
        app.accept_remaining(APPRAISER, scenario.scorecards[unit], 1)
    card_ref = scenario.scorecards["STC"]
    _, _, sheet = app.score_sheet(card_ref)
    assert sheet.nodes["2.4"].points == Decimal("1")  # "not applicable" credits the maximum
    _publish_from_appraisal_1(scenario)
    app.correct_points(SECRETARIAT, card_ref, "2.4", "0.5", "Có 1 hồ sơ trễ hạn",
                       "QĐ 200/QĐ-UBND")
    assert app.score_sheet(card_ref)[2].total == Decimal("13.5")
    [event] = events_of(app, card_ref, Scorecard.PointsCorrected)
    assert event.previous_points == Decimal("1")


def _publish_from_appraisal_1(scenario) -> None:
    app = scenario.app
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.EXPLANATION)
    app.clock.now = scenario.deadline(Phase.EXPLANATION) + timedelta(minutes=1)
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_2)
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.COUNCIL)
    app.approve_results(COUNCIL, scenario.cycle_id, "Biên bản 02/BB-HĐ")
    app.publish_results(SECRETARIAT, scenario.cycle_id, "QĐ 141/QĐ-UBND", date(2026, 2, 14))
