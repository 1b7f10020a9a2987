"""`Scorecard.__deepcopy__` copies only the top-level dicts: every command must therefore leave
the objects inside them untouched (replace an ItemState or an entry, never edit one). This test
runs the commands of a whole cycle and checks, after each, that every object held in those
dicts when a scorecard was copied is exactly as it was then. (The dicts themselves may change:
the repository fast-forwards its cached scorecard when newer events exist.)"""

from __future__ import annotations

import copy
import pickle
from datetime import timedelta
from typing import Any

import pytest

from domain.cycle.phases import Phase
from domain.scorecard.model import Scorecard
from tests.app.helpers import store_blob
from tests.builders import (
    APPRAISER,
    SECRETARIAT,
    adjust,
    cycle_with_units,
    full_marks,
    head,
    new_import_id,
)
from tests.builders import officer as officer_of


@pytest.fixture
def copied_from(monkeypatch) -> list[tuple[Any, bytes]]:
    """Every object shared between a scorecard and its copy, pickled when the copy was made."""
    shared: list[tuple[Any, bytes]] = []
    real = Scorecard.__deepcopy__

    def recording(self: Scorecard, memo: dict[int, Any]) -> Scorecard:
        for name in Scorecard.COPIED_BY_KEY:
            shared.extend((value, pickle.dumps(value)) for value in getattr(self, name).values())
        return real(self, memo)

    monkeypatch.setattr(Scorecard, "__deepcopy__", recording)
    return shared


def test_a_copy_shares_nothing_that_a_command_changes(app, tmp_path, copied_from):
    def unchanged() -> None:
        for value, state in copied_from:
            assert pickle.dumps(value) == state, f"a command edited a shared {value!r}"

    scenario = cycle_with_units(app)
    card = scenario.scorecards["STC"]
    officer = officer_of("STC")
    pdf, scan = store_blob(tmp_path, b"%PDF ke hoach"), store_blob(tmp_path, b"%PDF ban chup")
    steps = [
        lambda: app.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(), [
            {"unit_code": "STC", "item_code": "8.1", "points": "3"}]),
        lambda: scenario.submit_full_marks("SNV"),
        lambda: app.record_self_scores(officer, card, full_marks()),
        lambda: app.attach_evidence(officer, card, "1.1.1", pdf, "Kế hoạch.pdf",
                                    "application/pdf"),
        lambda: app.attach_evidence(officer, card, "1.1.1", scan, "Bản chụp.pdf",
                                    "application/pdf"),
        lambda: app.withdraw_evidence(officer, card, "1.1.1", scan.sha256, "Tải nhầm tệp"),
        lambda: app.submit_self_assessment(head("STC"), card),
        lambda: app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_1),
        lambda: app.appraise(APPRAISER, card, 1, [adjust("2.4", "0")]),
        lambda: app.award_bonus(APPRAISER, card, "b1", "1", "Sáng kiến cấp tỉnh"),
        lambda: app.impose_penalty(APPRAISER, card, "p1", "0.5", "Trễ báo cáo quý II"),
        lambda: app.withdraw_bonus_or_penalty(APPRAISER, card, "b1", "Chưa được công nhận"),
        lambda: [app.accept_remaining(APPRAISER, c, 1) for c in scenario.scorecards.values()],
        lambda: app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.EXPLANATION),
        lambda: app.explain(officer, card, "2.4", "Đã có văn bản xin lỗi đủ 3/3 hồ sơ"),
    ]
    for step in steps:
        step()
        unchanged()
    app.clock.now = scenario.deadline(Phase.EXPLANATION) + timedelta(minutes=1)
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_2)
    app.appraise(APPRAISER, card, 2, [adjust("2.4", "1", "Giải trình hợp lý")])
    unchanged()
    assert len(copied_from) > 100  # items, evidence, bonus and penalty entries were shared
    final = app.scorecard(card)
    assert final.item("2.4").round2_points == 1 and list(final.penalty) == ["p1"]
    assert [e["sha256"] for e in final.evidence.values()] == [pdf.sha256]


def test_a_copy_equals_its_original_and_is_independent(app):
    scenario = cycle_with_units(app)
    app.record_self_scores(officer_of("STC"), scenario.scorecards["STC"], full_marks())
    original = app.repository.get(scenario.scorecards["STC"], deepcopy_from_cache=False)
    copied = copy.deepcopy(original)
    assert copied == original and copied is not original
    assert all(getattr(copied, name) is not getattr(original, name)
               for name in (*Scorecard.COPIED_BY_KEY, "_pending_events"))

