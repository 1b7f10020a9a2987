"""Rules 13 and 14: an unchanged value writes no event, and every event names its actor."""

from __future__ import annotations

from datetime import date, timedelta

from domain.actors import Role
from domain.application import ParIndex
from domain.cycle.phases import Phase
from domain.scorecard.model import Scorecard, SelfScoreEntry
from domain.store.config import settings_from_url
from tests.app.helpers import (
    accept_all,
    advance,
    all_events,
    events_of,
    past,
    store_blob,
    submit,
)
from tests.builders import (
    APPRAISER,
    COUNCIL,
    SECRETARIAT,
    adjust,
    cycle_with_units,
    full_marks,
    new_import_id,
    officer,
)


def test_saving_unchanged_self_scores_writes_no_event(app):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    app.record_self_scores(officer("STC"), card, full_marks())
    before = app.recorder.max_notification_id()
    result = app.record_self_scores(officer("STC"), card, full_marks())
    assert result.position is None
    assert app.recorder.max_notification_id() == before
    # the same points written differently ("1.00" for "1") are the same value
    app.record_self_scores(officer("STC"), card, [SelfScoreEntry("2.4", points="1.00")])
    assert app.recorder.max_notification_id() == before


def test_unchanged_self_scores_write_no_event_when_read_back_by_a_fresh_instance(
        app, store_url, clock):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer("STC"), scenario.scorecards["STC"], full_marks())
    before = app.recorder.max_notification_id()
    fresh = ParIndex(settings_from_url(store_url), clock=clock)
    try:
        fresh.record_self_scores(officer("STC"), scenario.scorecards["STC"], full_marks())
    finally:
        fresh.close()
    assert app.recorder.max_notification_id() == before


def test_only_the_changed_items_of_a_save_write_events(app):
    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    app.record_self_scores(officer("STC"), card, full_marks())
    changed = [SelfScoreEntry(e.item_code, e.declared, e.points, e.not_applicable,
                              "Ghi chú mới" if e.item_code == "2.2" else e.note)
               for e in full_marks()]
    app.record_self_scores(officer("STC"), card, changed)
    recorded = events_of(app, card, Scorecard.SelfScoreRecorded)
    assert [e.item_code for e in recorded[len(full_marks()):]] == ["2.2"]
    assert recorded[-1].note == "Ghi chú mới"


def test_every_event_of_a_full_published_cycle_carries_its_actor(app, tmp_path):
    scenario = cycle_with_units(app, units=("STC", "SNV", "SXD"))
    stc, snv, sxd = (scenario.scorecards[u] for u in scenario.units)
    blob = store_blob(tmp_path, b"ke hoach CCHC")
    app.attach_evidence(officer("STC"), stc, "1.1.1", blob, "kh.pdf", "application/pdf")
    app.withdraw_evidence(officer("STC"), stc, "1.1.1", blob.sha256, "Nhầm tệp")
    submit(scenario, "STC")
    submit(scenario, "SNV")
    app.record_self_scores(officer("SXD"), sxd, full_marks()[:3])
    app.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(),
                            [{"unit_code": u, "item_code": "8.1", "points": "2.5"}
                             for u in scenario.units])
    past(scenario, Phase.SELF_ASSESSMENT)
    app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id)
    app.extend_deadline(SECRETARIAT, scenario.cycle_id, "SXD", Phase.SELF_ASSESSMENT,
                        app.clock() + timedelta(days=1), "Sự cố mạng")
    submit(scenario, "SXD")
    advance(scenario, Phase.APPRAISAL_1)
    app.appraise(APPRAISER, stc, 1, [adjust("2.4", "0")])
    app.award_bonus(APPRAISER, snv, "b1", "1", "Sáng kiến cấp tỉnh")
    app.impose_penalty(APPRAISER, snv, "p1", "0.5", "Trễ báo cáo quý")
    app.withdraw_bonus_or_penalty(APPRAISER, snv, "p1", "Đã gửi đúng hạn")
    accept_all(scenario, 1)
    advance(scenario, Phase.EXPLANATION)
    app.attach_evidence(officer("STC"), stc, "2.4", store_blob(tmp_path, b"xin loi"),
                        "xin-loi.pdf", "application/pdf")
    app.explain(officer("STC"), stc, "2.4", "Đã xin lỗi đủ")
    past(scenario, Phase.EXPLANATION)
    advance(scenario, Phase.APPRAISAL_2)
    app.appraise(APPRAISER, stc, 2, [adjust("2.4", "1", "Giải trình hợp lý")])
    accept_all(scenario, 2)
    advance(scenario, Phase.COUNCIL)
    app.approve_results(COUNCIL, scenario.cycle_id, "Biên bản 02/BB-HĐ")
    app.publish_results(SECRETARIAT, scenario.cycle_id, "QĐ 141/QĐ-UBND", date(2026, 2, 14))
    app.correct_points(SECRETARIAT, snv, "2.4", "0.5", "Sai sót", "QĐ 200/QĐ-UBND")

    events = all_events(app)
    kinds = {type(e).__qualname__ for e in events}
    assert {"Scorecard.EvidenceAttached", "Scorecard.EvidenceWithdrawn",
            "Scorecard.LockedAtDeadline", "Scorecard.ReopenedByExtension",
            "Scorecard.ExplanationSubmitted", "Scorecard.BonusOrPenaltyWithdrawn",
            "Scorecard.PointsCorrected", "Scorecard.SurveyPointsApplied",
            "AssessmentCycle.DeadlineExtended", "AssessmentCycle.ResultsApproved",
            "AssessmentCycle.ResultsPublished", "Framework.Drafted", "Framework.Published"} <= kinds
    missing = [(n, type(e).__qualname__) for n, e in enumerate(events, 1)
               if not (isinstance(e.actor_id, str) and e.actor_id.strip()
                       and isinstance(e.actor_role, Role))]
    assert not missing
    assert len(events) == app.recorder.max_notification_id()

