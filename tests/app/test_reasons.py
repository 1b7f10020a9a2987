"""Rule 5: adjustments, withdrawals, extensions, bonus/penalty and corrections carry a reason;
corrections also carry the reference of the decision behind them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.cycle.phases import Phase
from domain.errors import ReasonRequired
from tests.app.helpers import rejected, store_blob
from tests.builders import APPRAISER, SECRETARIAT, adjust, cycle_with_units, officer

NO_REASON = [pytest.param("", id="empty"), pytest.param("   ", id="blank")]


@pytest.mark.parametrize("reason", NO_REASON)
def test_an_adjustment_without_a_reason_is_refused(app, reason):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    rejected(app, ReasonRequired, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 1,
        [adjust("2.3", "1", reason="Sáng kiến cấp đơn vị"), adjust("2.4", "0", reason=reason)]),
        item="2.4", field="reason")
    assert app.scorecard(scenario.scorecards["STC"]).item("2.3").round1_decision is None


def test_a_round_2_adjustment_without_a_reason_is_refused(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_2({"STC": [adjust("2.4", "0", request_explanation=True)]})
    rejected(app, ReasonRequired, lambda: app.appraise(
        APPRAISER, scenario.scorecards["STC"], 2, [adjust("2.4", "1", reason="")]),
        item="2.4", field="reason")


@pytest.mark.parametrize("reason", [*NO_REASON, pytest.param(None, id="none")])
def test_withdrawing_evidence_without_a_reason_is_refused(app, tmp_path, reason):
    scenario = cycle_with_units(app)
    blob = store_blob(tmp_path, b"ke hoach CCHC 2025")
    app.attach_evidence(officer("STC"), scenario.scorecards["STC"], "1.1.1", blob,
                        "ke-hoach.pdf", "application/pdf")
    rejected(app, ReasonRequired, lambda: app.withdraw_evidence(
        officer("STC"), scenario.scorecards["STC"], "1.1.1", blob.sha256, reason),
        item="1.1.1", field="reason")
    assert app.scorecard(scenario.scorecards["STC"]).item("1.1.1").evidence == [blob.sha256]


@pytest.mark.parametrize("reason", [*NO_REASON, pytest.param(None, id="none")])
def test_an_extension_without_a_reason_is_refused(app, reason):
    scenario = cycle_with_units(app)
    until = scenario.deadline(Phase.SELF_ASSESSMENT) + timedelta(days=3)
    rejected(app, ReasonRequired, lambda: app.extend_deadline(
        SECRETARIAT, scenario.cycle_id, "STC", Phase.SELF_ASSESSMENT, until, reason),
        field="reason")


@pytest.mark.parametrize("reason", NO_REASON)
def test_a_bonus_or_penalty_without_a_reason_is_refused(app, reason):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    card = scenario.scorecards["STC"]
    rejected(app, ReasonRequired, lambda: app.award_bonus(APPRAISER, card, "b1", "1", reason),
             field="reason")
    rejected(app, ReasonRequired, lambda: app.impose_penalty(APPRAISER, card, "p1", "1", reason),
             field="reason")


@pytest.mark.parametrize("reason", NO_REASON)
def test_withdrawing_a_bonus_without_a_reason_is_refused(app, reason):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    card = scenario.scorecards["STC"]
    app.award_bonus(APPRAISER, card, "b1", "1", "Sáng kiến cấp tỉnh")
    rejected(app, ReasonRequired, lambda: app.withdraw_bonus_or_penalty(
        APPRAISER, card, "b1", reason), field="reason")


@pytest.mark.parametrize("reason", NO_REASON)
def test_a_correction_without_a_reason_is_refused(app, reason):
    scenario = cycle_with_units(app)
    scenario.publish()
    rejected(app, ReasonRequired, lambda: app.correct_points(
        SECRETARIAT, scenario.scorecards["STC"], "2.4", "0", reason, "QĐ 200/QĐ-UBND"),
        item="2.4", field="reason")


@pytest.mark.parametrize("decision_ref", [*NO_REASON, pytest.param(None, id="none")])
def test_a_correction_without_a_decision_reference_is_refused(app, decision_ref):
    scenario = cycle_with_units(app)
    scenario.publish()
    rejected(app, ReasonRequired, lambda: app.correct_points(
        SECRETARIAT, scenario.scorecards["STC"], "2.4", "0", "Sai sót khi tổng hợp",
        decision_ref), item="2.4", field="decision_ref")
