"""Rule 15: bonus and penalty sit outside the base, are capped by the framework in the totals,
and can be withdrawn."""

from __future__ import annotations

from decimal import Decimal

from domain.errors import InvalidInput, NotFound, PhaseClosed
from domain.scorecard.model import Scorecard
from tests.app.helpers import events_of, rejected
from tests.builders import APPRAISER, COUNCIL, SECRETARIAT, cycle_with_units, new_import_id


def test_bonus_is_capped_by_the_framework_and_can_be_withdrawn(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    card_ref = scenario.scorecards["STC"]
    app.award_bonus(APPRAISER, card_ref, "b1", "1.5", "Sáng kiến cấp tỉnh")
    app.award_bonus(COUNCIL, card_ref, "b2", "1", "Giải thưởng CCHC")
    _, tree, sheet = app.score_sheet(card_ref)
    assert tree.bonus_cap == Decimal("2")
    assert sheet.bonus == Decimal("2")
    assert sheet.total == Decimal("16")
    app.withdraw_bonus_or_penalty(APPRAISER, card_ref, "b1", "Sáng kiến chưa được công nhận")
    card, _, sheet = app.score_sheet(card_ref)
    assert sheet.bonus == Decimal("1")
    assert sheet.total == Decimal("15")
    assert list(card.bonus) == ["b2"]
    [withdrawn] = events_of(app, card_ref, Scorecard.BonusOrPenaltyWithdrawn)
    assert (withdrawn.entry_id, withdrawn.reason) == ("b1", "Sáng kiến chưa được công nhận")


def test_penalty_is_capped_by_the_framework_and_can_be_withdrawn(app):
    scenario = cycle_with_units(app)
    app.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(),
                            [{"unit_code": "STC", "item_code": "8.1", "points": "3"}])
    scenario.to_appraisal_1()
    card_ref = scenario.scorecards["STC"]
    app.impose_penalty(APPRAISER, card_ref, "p1", "1.25", "Trễ báo cáo quý II")
    app.impose_penalty(SECRETARIAT, card_ref, "p2", "1.5", "Để xảy ra sai phạm")
    _, _, sheet = app.score_sheet(card_ref)
    assert sheet.base_total == Decimal("17")
    assert sheet.penalty == Decimal("2")
    assert sheet.total == Decimal("15")
    app.withdraw_bonus_or_penalty(SECRETARIAT, card_ref, "p2", "Sai phạm đã được khắc phục")
    _, _, sheet = app.score_sheet(card_ref)
    assert sheet.penalty == Decimal("1.25")
    assert sheet.total == Decimal("15.75")


def test_bonus_and_penalty_apply_together_each_under_its_own_cap(app):
    scenario = cycle_with_units(app)
    scenario.to_appraisal_1()
    card_ref = scenario.scorecards["STC"]
    app.award_bonus(APPRAISER, card_ref, "b1", "2", "Sáng kiến cấp tỉnh")
    app.award_bonus(APPRAISER, card_ref, "b2", "2", "Giải thưởng")
    app.impose_penalty(APPRAISER, card_ref, "p1", "0.5", "Trễ báo cáo")
    _, _, sheet = app.score_sheet(card_ref)
    assert (sheet.bonus, sheet.penalty, sheet.total) == (
        Decimal("2"), Decimal("0.5"), Decimal("15.5"))


def test_bonus_and_penalty_entries_are_checked(app):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    rejected(app, PhaseClosed, lambda: app.award_bonus(APPRAISER, card_ref, "b1", "1", "Sớm"))
    scenario.to_appraisal_1()
    app.award_bonus(APPRAISER, card_ref, "b1", "1", "Sáng kiến")
    rejected(app, InvalidInput, lambda: app.impose_penalty(
        APPRAISER, card_ref, "b1", "1", "Trùng mã"), field="entry_id")
    rejected(app, InvalidInput, lambda: app.award_bonus(
        APPRAISER, card_ref, "b2", "0", "Không điểm"), field="points")
    rejected(app, InvalidInput, lambda: app.award_bonus(
        APPRAISER, card_ref, "b2", 0.5, "Số thực"), field="points")
    rejected(app, InvalidInput, lambda: app.award_bonus(
        APPRAISER, card_ref, "b2", "0.125", "Ba chữ số"), field="points")
    rejected(app, NotFound, lambda: app.withdraw_bonus_or_penalty(
        APPRAISER, card_ref, "p9", "Không có"), field="entry_id")
