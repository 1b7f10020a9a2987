"""Rule 4: a unit writes only its own scorecard, only its head submits, only assigned
appraisers appraise, and read-only roles (inspector, integrator) write nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.actors import Actor, Role
from domain.cycle.phases import Phase
from domain.errors import NotPermitted
from domain.scorecard.model import AppraisalEntry, SelfScoreEntry
from domain.scorecard.state import Decision
from tests.app.helpers import INTEGRATOR, OTHER_APPRAISER, rejected, store_blob
from tests.builders import (
    APPRAISER,
    INSPECTOR,
    SECRETARIAT,
    adjust,
    cycle_with_units,
    full_marks,
    head,
    new_import_id,
    officer,
    small_framework,
)


def test_an_officer_of_one_unit_cannot_self_score_another_units_scorecard(app):
    scenario = cycle_with_units(app)
    rejected(app, NotPermitted, lambda: app.record_self_scores(
        officer("SNV"), scenario.scorecards["STC"], full_marks()))


def test_a_head_of_one_unit_cannot_submit_another_units_scorecard(app):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"], full_marks())
    rejected(app, NotPermitted, lambda: app.submit_self_assessment(
        head("SNV"), scenario.scorecards["STC"]))


def test_an_officer_of_one_unit_cannot_attach_evidence_to_another_units_scorecard(app, tmp_path):
    scenario = cycle_with_units(app)
    blob = store_blob(tmp_path, b"%PDF-1.7 ke hoach")
    rejected(app, NotPermitted, lambda: app.attach_evidence(
        officer("SNV"), scenario.scorecards["STC"], "1.1.1", blob, "kh.pdf", "application/pdf"))


def test_a_unit_cannot_explain_another_units_item(app):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    rejected(app, NotPermitted, lambda: app.explain(
        officer("SNV"), scenario.scorecards["STC"], "2.4", "Giải trình hộ"))


def test_only_the_unit_head_submits(app):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"], full_marks())
    rejected(app, NotPermitted, lambda: app.submit_self_assessment(
        officer("STC"), scenario.scorecards["STC"]))
    app.submit_self_assessment(head("STC"), scenario.scorecards["STC"])


def test_an_appraiser_not_assigned_to_the_unit_is_refused(app):
    scenario = cycle_with_units(app)
    app.assign_appraiser(SECRETARIAT, scenario.cycle_id, OTHER_APPRAISER.id, ["SNV"])
    scenario.to_appraisal_1()
    card = scenario.scorecards["STC"]
    rejected(app, NotPermitted, lambda: app.appraise(
        OTHER_APPRAISER, card, 1, [adjust("2.4", "0")]))
    rejected(app, NotPermitted, lambda: app.accept_remaining(OTHER_APPRAISER, card, 1))
    rejected(app, NotPermitted, lambda: app.award_bonus(
        OTHER_APPRAISER, card, "b1", "1", "Sáng kiến cấp tỉnh"))
    # the same appraiser may appraise the unit assigned to them
    app.appraise(OTHER_APPRAISER, scenario.scorecards["SNV"], 1, [adjust("2.4", "0")])


def test_a_unit_cannot_appraise_its_own_scorecard(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, NotPermitted, lambda: app.appraise(
        head("STC"), scenario.scorecards["STC"], 1,
        [AppraisalEntry("2.4", Decision.ACCEPTED)]))


READ_ONLY = [pytest.param(INSPECTOR, id="inspector"), pytest.param(INTEGRATOR, id="integrator")]


def _writes_in_self_assessment(app, scenario, actor, tmp_path):
    card = scenario.scorecards["STC"]
    blob = store_blob(tmp_path, b"bien ban")
    until = scenario.deadline(Phase.SELF_ASSESSMENT) + timedelta(days=2)
    return {
        "define framework": lambda: app.define_framework(actor, small_framework(2026)),
        "publish framework": lambda: app.publish_framework(actor, scenario.framework_id),
        "open cycle": lambda: app.open_cycle(
            actor, province="Huế", year=2025, title="x",
            groups=[{"code": "SO", "name": "Sở", "framework_id": str(scenario.framework_id)}],
            schedule={p.value: datetime(2026, 1, 1 + i, tzinfo=UTC)
                      for i, p in enumerate(Phase) if p not in (Phase.SETUP, Phase.PUBLISHED)}),
        "enrol": lambda: app.enrol_units(actor, scenario.cycle_id,
                                         [{"code": "SXD", "name": "Sở XD", "group": "SO"}]),
        "assign appraiser": lambda: app.assign_appraiser(actor, scenario.cycle_id, actor.id,
                                                         ["STC"]),
        "extend": lambda: app.extend_deadline(actor, scenario.cycle_id, "STC",
                                              Phase.SELF_ASSESSMENT, until, "Lý do"),
        "lock overdue": lambda: app.lock_overdue_scorecards(actor, scenario.cycle_id),
        "advance": lambda: app.advance_phase(actor, scenario.cycle_id, Phase.APPRAISAL_1),
        "self-score": lambda: app.record_self_scores(actor, card,
                                                     [SelfScoreEntry("2.4", points="1")]),
        "attach": lambda: app.attach_evidence(actor, card, "1.1.1", blob, "b.pdf", "app/pdf"),
        "submit": lambda: app.submit_self_assessment(actor, card),
        "survey": lambda: app.apply_survey_points(
            actor, scenario.cycle_id, new_import_id(),
            [{"unit_code": "STC", "item_code": "8.1", "points": "1"}]),
    }


def _writes_in_appraisal(app, scenario, actor):
    card = scenario.scorecards["STC"]
    return {
        "appraise": lambda: app.appraise(actor, card, 1, [adjust("2.4", "0")]),
        "accept remaining": lambda: app.accept_remaining(actor, card, 1),
        "bonus": lambda: app.award_bonus(actor, card, "b1", "1", "Sáng kiến"),
        "penalty": lambda: app.impose_penalty(actor, card, "p1", "1", "Trễ báo cáo"),
        "approve": lambda: app.approve_results(actor, scenario.cycle_id, "BB 02"),
        "publish": lambda: app.publish_results(actor, scenario.cycle_id, "QĐ 1",
                                               date(2026, 2, 1)),
        "correct": lambda: app.correct_points(actor, card, "2.4", "0", "Sai", "QĐ 2"),
    }


@pytest.mark.parametrize("actor", READ_ONLY)
def test_read_only_roles_cannot_write_during_setup_and_self_assessment(app, actor, tmp_path):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"], full_marks())
    for act, call in _writes_in_self_assessment(app, scenario, actor, tmp_path).items():
        error = rejected(app, NotPermitted, call)
        assert actor.role.value in str(error) or "not this scorecard" in str(error), act


@pytest.mark.parametrize("actor", READ_ONLY)
def test_read_only_roles_cannot_write_during_appraisal(app, actor):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    app.appraise(APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", "0")])
    for _act, call in _writes_in_appraisal(app, scenario, actor).items():
        rejected(app, NotPermitted, call)


@pytest.mark.parametrize("actor", READ_ONLY)
def test_read_only_roles_cannot_explain(app, actor):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    rejected(app, NotPermitted, lambda: app.explain(actor, scenario.scorecards["STC"], "2.4",
                                                    "Giải trình"))


def test_read_only_roles_cannot_correct_published_points(app):
    scenario = cycle_with_units(app)
    scenario.publish()
    for actor in (INSPECTOR, INTEGRATOR, Actor("tdd.x", Role.APPRAISER), head("STC")):
        rejected(app, NotPermitted, lambda a=actor: app.correct_points(
            a, scenario.scorecards["STC"], "2.4", "0", "Sai sót", "QĐ 200/QĐ-UBND"))
