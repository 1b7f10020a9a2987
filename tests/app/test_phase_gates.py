"""Rule 2: every act belongs to a phase; outside it the command is refused and writes nothing."""

from __future__ import annotations

from datetime import date

from domain.cycle.phases import Phase
from domain.errors import InvalidInput, PhaseClosed, WorkflowIncomplete
from domain.scorecard.model import SelfScoreEntry
from tests.app.helpers import accept_all, advance, past, rejected
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


def test_self_scoring_before_the_self_assessment_phase_is_refused(app):
    scenario = cycle_with_units(app, open_self_assessment=False)
    rejected(app, PhaseClosed, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"], full_marks()))


def test_self_scoring_after_the_self_assessment_phase_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, PhaseClosed, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"], [SelfScoreEntry("2.4", points="0")]))


def test_submitting_after_the_self_assessment_phase_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, PhaseClosed, lambda: app.submit_self_assessment(
        head("STC"), scenario.scorecards["STC"]))


def test_round_1_appraisal_during_self_assessment_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.submit_full_marks("STC")
    rejected(app, PhaseClosed, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", "0")]))


def test_round_1_appraisal_after_its_phase_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation()
    rejected(app, PhaseClosed, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", "0")]))


def test_round_2_appraisal_in_round_1s_phase_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    app.appraise(APPRAISER, scenario.scorecards["STC"], 1,
                 [adjust("2.4", "0", request_explanation=True)])
    rejected(app, PhaseClosed, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 2, [adjust("2.4", "1")]))


def test_round_2_appraisal_after_its_phase_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_council()
    rejected(app, PhaseClosed, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 2, [adjust("2.4", "1")]))


def test_an_explanation_during_round_1_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    app.appraise(APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", "0")])
    rejected(app, PhaseClosed, lambda: app.explain(
        officer("STC"), scenario.scorecards["STC"], "2.4", "Đã xin lỗi đủ 3 hồ sơ"), item="2.4")


def test_an_explanation_during_round_2_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_2({"STC": [adjust("2.4", "0")]})
    rejected(app, PhaseClosed, lambda: app.explain(
        officer("STC"), scenario.scorecards["STC"], "2.4", "Đã xin lỗi đủ 3 hồ sơ"), item="2.4")


def test_survey_points_after_publication_are_refused(app):
    scenario = cycle_with_units(app)
    scenario.publish()
    rejected(app, PhaseClosed, lambda: app.apply_survey_points(
        SECRETARIAT, scenario.cycle_id, new_import_id(),
        [{"unit_code": "STC", "item_code": "8.1", "points": "2"}]), item="8.1")


def test_survey_points_before_the_cycle_opens_are_refused(app):
    scenario = cycle_with_units(app, open_self_assessment=False)
    rejected(app, PhaseClosed, lambda: app.apply_survey_points(
        SECRETARIAT, scenario.cycle_id, new_import_id(),
        [{"unit_code": "STC", "item_code": "8.1", "points": "2"}]), item="8.1")


def test_a_correction_before_publication_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_council()
    app.approve_results(COUNCIL, scenario.cycle_id, "Biên bản 02/BB-HĐ")
    rejected(app, PhaseClosed, lambda: app.correct_points(
        SECRETARIAT, scenario.scorecards["STC"], "2.4", "0", "Sai sót", "QĐ 200/QĐ-UBND"),
        item="2.4")


def test_enrolment_during_self_assessment_is_allowed(app):
    scenario = cycle_with_units(app)
    app.enrol_units(SECRETARIAT, scenario.cycle_id,
                    [{"code": "SXD", "name": "Sở Xây dựng", "group": "SO"}])
    assert "SXD" in app.cycle(scenario.cycle_id).units


def test_enrolment_after_appraisal_starts_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, PhaseClosed, lambda: app.enrol_units(
        SECRETARIAT, scenario.cycle_id, [{"code": "SXD", "name": "Sở Xây dựng", "group": "SO"}]),
        field="unit_code")


def test_advancing_to_a_phase_other_than_the_next_is_refused(app):
    scenario = cycle_with_units(app)
    for unit in scenario.units:
        scenario.submit_full_marks(unit)
    for target in (Phase.EXPLANATION, Phase.COUNCIL, Phase.SETUP, Phase.SELF_ASSESSMENT):
        rejected(app, PhaseClosed, lambda t=target: app.advance_phase(
            SECRETARIAT, scenario.cycle_id, t), field="to_phase")
    rejected(app, InvalidInput, lambda: app.advance_phase(
        SECRETARIAT, scenario.cycle_id, Phase.PUBLISHED), field="to_phase")
    advance(scenario, Phase.APPRAISAL_1)
    assert app.cycle(scenario.cycle_id).phase is Phase.APPRAISAL_1


def test_round_1_cannot_close_while_items_await_a_decision(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    app.appraise(APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", "0")])
    rejected(app, WorkflowIncomplete, lambda: app.advance_phase(
        SECRETARIAT, scenario.cycle_id, Phase.EXPLANATION))


def test_the_explanation_phase_cannot_close_before_its_deadline(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation()
    rejected(app, WorkflowIncomplete, lambda: app.advance_phase(
        SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_2))
    past(scenario, Phase.EXPLANATION)
    advance(scenario, Phase.APPRAISAL_2)


def test_publishing_without_council_approval_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_council()
    rejected(app, WorkflowIncomplete, lambda: app.publish_results(
        SECRETARIAT, scenario.cycle_id, "QĐ 141/QĐ-UBND", date(2026, 2, 14)))
    assert app.cycle(scenario.cycle_id).phase is Phase.COUNCIL


def test_approving_before_the_council_phase_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_2()
    accept_all(scenario, 2)
    rejected(app, PhaseClosed, lambda: app.approve_results(
        COUNCIL, scenario.cycle_id, "Biên bản 02/BB-HĐ"))
