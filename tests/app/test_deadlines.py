"""Rule 9: the self-assessment deadline closes unit edits, overdue drafts are locked as they
stand, and a per-unit extension keeps (or reopens) one unit's sheet."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from domain.cycle.phases import Phase
from domain.errors import DeadlinePassed, ScorecardLocked, WorkflowIncomplete
from domain.scorecard.model import Scorecard, SelfScoreEntry
from domain.scorecard.state import Status
from tests.app.helpers import (
    accept_all,
    advance,
    events_of,
    past,
    rejected,
    store_blob,
    submit,
)
from tests.builders import (
    APPRAISER,
    SECRETARIAT,
    adjust,
    cycle_with_units,
    full_marks,
    head,
    officer,
)


def test_after_the_self_assessment_deadline_unit_edits_are_refused(app, tmp_path):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    app.record_self_scores(officer("STC"), card, full_marks())
    blob = store_blob(tmp_path, b"ke hoach")
    past(scenario, Phase.SELF_ASSESSMENT)
    rejected(app, DeadlinePassed, lambda: app.record_self_scores(
        officer("STC"), card, [SelfScoreEntry("2.4", points="0")]))
    rejected(app, DeadlinePassed, lambda: app.attach_evidence(
        officer("STC"), card, "1.1.1", blob, "kh.pdf", "application/pdf"))
    rejected(app, DeadlinePassed, lambda: app.submit_self_assessment(head("STC"), card))


def test_a_unit_edits_right_up_to_its_deadline(app):
    scenario = cycle_with_units(app)
    app.clock.now = scenario.deadline(Phase.SELF_ASSESSMENT)
    scenario.submit_full_marks("STC")
    assert app.scorecard(scenario.scorecards["STC"]).status is Status.SUBMITTED


def test_a_submitted_scorecard_takes_no_more_unit_edits(app):
    scenario = cycle_with_units(app)
    scenario.submit_full_marks("STC")
    rejected(app, ScorecardLocked, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"], [SelfScoreEntry("2.4", points="0")]))


def test_overdue_drafts_are_locked_as_they_stand_at_the_units_deadline(app):
    scenario = cycle_with_units(app, units=("STC", "SNV", "SXD"))
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"], full_marks()[:2])
    submit(scenario, "SXD")
    past(scenario, Phase.SELF_ASSESSMENT)
    assert app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id) == ["STC", "SNV"]
    deadline = app.cycle(scenario.cycle_id).deadline_for("STC", Phase.SELF_ASSESSMENT)
    for unit in ("STC", "SNV"):
        card = app.scorecard(scenario.scorecards[unit])
        assert card.status is Status.LOCKED
        [locked] = events_of(app, card.id, Scorecard.LockedAtDeadline)
        assert locked.deadline == deadline
        assert (locked.actor_id, locked.actor_role) == (SECRETARIAT.id, SECRETARIAT.role)
    stc = app.scorecard(scenario.scorecards["STC"])
    assert stc.item("1.1.1").self_points == Decimal("1")
    assert stc.item("1.2").self_points is None
    assert app.scorecard(scenario.scorecards["SXD"]).status is Status.SUBMITTED
    # a second run finds nothing to lock and writes nothing
    before = app.recorder.max_notification_id()
    assert app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id) == []
    assert app.recorder.max_notification_id() == before
    rejected(app, ScorecardLocked, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"], [SelfScoreEntry("2.4", points="1")]))


def test_nothing_is_locked_before_the_deadline(app):
    scenario = cycle_with_units(app)
    app.clock.now = scenario.deadline(Phase.SELF_ASSESSMENT)
    before = app.recorder.max_notification_id()
    assert app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id) == []
    assert app.recorder.max_notification_id() == before


def test_a_unit_with_an_extension_is_not_locked_and_can_still_edit(app):
    scenario = cycle_with_units(app)
    until = scenario.deadline(Phase.SELF_ASSESSMENT) + timedelta(days=3)
    app.extend_deadline(SECRETARIAT, scenario.cycle_id, "STC", Phase.SELF_ASSESSMENT, until,
                        "Đơn vị sáp nhập, đổi tài khoản")
    past(scenario, Phase.SELF_ASSESSMENT)
    assert app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id) == ["SNV"]
    submit(scenario, "STC")
    assert app.scorecard(scenario.scorecards["STC"]).status is Status.SUBMITTED


def test_a_unit_locked_after_its_extension_is_locked_at_its_extended_deadline(app):
    scenario = cycle_with_units(app)
    until = scenario.deadline(Phase.SELF_ASSESSMENT) + timedelta(days=3)
    app.extend_deadline(SECRETARIAT, scenario.cycle_id, "STC", Phase.SELF_ASSESSMENT, until,
                        "Đơn vị sáp nhập")
    app.clock.now = until + timedelta(seconds=1)
    rejected(app, DeadlinePassed, lambda: app.record_self_scores(
        officer("STC"), scenario.scorecards["STC"], full_marks()))
    assert app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id) == ["STC", "SNV"]
    [stc] = events_of(app, scenario.scorecards["STC"], Scorecard.LockedAtDeadline)
    [snv] = events_of(app, scenario.scorecards["SNV"], Scorecard.LockedAtDeadline)
    assert stc.deadline == until
    assert snv.deadline == scenario.deadline(Phase.SELF_ASSESSMENT)


def test_an_extension_on_a_locked_sheet_reopens_it(app):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    app.record_self_scores(officer("STC"), card, full_marks()[:4])
    past(scenario, Phase.SELF_ASSESSMENT)
    app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id)
    until = app.clock() + timedelta(days=2)
    app.extend_deadline(SECRETARIAT, scenario.cycle_id, "STC", Phase.SELF_ASSESSMENT, until,
                        "Sự cố hệ thống ngày cuối")
    [reopened] = events_of(app, card, Scorecard.ReopenedByExtension)
    assert (reopened.until, reopened.reason) == (until, "Sự cố hệ thống ngày cuối")
    assert app.scorecard(card).status is Status.DRAFT
    assert app.scorecard(scenario.scorecards["SNV"]).status is Status.LOCKED
    submit(scenario, "STC")
    assert app.scorecard(card).status is Status.SUBMITTED


def test_advancing_out_of_self_assessment_waits_for_every_draft_to_be_submitted_or_locked(app):
    scenario = cycle_with_units(app)
    submit(scenario, "STC")
    rejected(app, WorkflowIncomplete, lambda: app.advance_phase(
        SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_1))
    past(scenario, Phase.SELF_ASSESSMENT)
    rejected(app, WorkflowIncomplete, lambda: app.advance_phase(
        SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_1))
    app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id)
    advance(scenario, Phase.APPRAISAL_1)
    # a sheet locked empty is appraised like any other: accepted items without a score count 0
    app.accept_remaining(APPRAISER, scenario.scorecards["SNV"], 1)
    assert app.score_sheet(scenario.scorecards["SNV"])[2].total == Decimal("0")


def test_an_explanation_extension_leaves_a_sheet_locked_at_the_deadline_locked(app):
    scenario = cycle_with_units(app)
    submit(scenario, "SNV")
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"], full_marks())
    past(scenario, Phase.SELF_ASSESSMENT)
    app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id)
    advance(scenario, Phase.APPRAISAL_1)
    app.appraise(APPRAISER, scenario.scorecards["STC"], 1, [adjust("2.4", "0")])
    accept_all(scenario, 1)
    advance(scenario, Phase.EXPLANATION)
    until = scenario.deadline(Phase.EXPLANATION) + timedelta(days=2)
    app.extend_deadline(SECRETARIAT, scenario.cycle_id, "STC", Phase.EXPLANATION, until,
                        "Lãnh đạo đi công tác")
    assert app.scorecard(scenario.scorecards["STC"]).status is Status.LOCKED
    app.explain(officer("STC"), scenario.scorecards["STC"], "2.4", "Đã xin lỗi đủ hồ sơ")
    app.clock.now = until + timedelta(minutes=1)
    advance(scenario, Phase.APPRAISAL_2)
    app.appraise(APPRAISER, scenario.scorecards["STC"], 2, [adjust("2.4", "1", "Hợp lý")])
