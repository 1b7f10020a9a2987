"""A log written by parindex 0.1 that every later version must still read.

`fixture_log_v1.jsonl` holds the stored events of one small published cycle (every event type),
as the store keeps them (topic + JSON state), followed by the totals they produced. It is
generated once and never regenerated: when an event class gains a version, its upcaster must
make these old events load. (Regenerate only for a new fixture file, e.g. v2:
`.venv/bin/python -m tests.contract.fixture_log fixture_log_v2.jsonl`.)
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from domain.cycle.phases import Phase
from domain.scorecard.model import AppraisalEntry, SelfScoreEntry
from domain.scorecard.state import Decision
from domain.store.blobs import StoredBlob
from domain.store.config import settings_from_url

HERE = Path(__file__).parent
FIXTURE = HERE / "fixture_log_v1.jsonl"


def build_log(app) -> dict[str, str]:
    """Drive one cycle through every kind of act; return each scorecard's final total."""
    from datetime import date

    from tests.builders import (
        APPRAISER,
        COUNCIL,
        SECRETARIAT,
        adjust,
        cycle_with_units,
        head,
        officer,
    )

    scenario = cycle_with_units(app, units=("STC", "SNV", "STP"))
    stc, snv = scenario.scorecards["STC"], scenario.scorecards["SNV"]
    framework = app.define_framework(SECRETARIAT, {**app.framework(scenario.framework_id)
                                                   .document}, supersedes=scenario.framework_id)
    app.revise_framework(SECRETARIAT, framework.aggregate_id,
                         {**app.framework(scenario.framework_id).document,
                          "title": "Khung chấm điểm (bản sửa đổi)"}, reason="Sửa tên khung")
    blob = StoredBlob(sha256="ab" * 32, size=2048)
    app.attach_evidence(officer("STC"), stc, "1.1.1", blob, "ke-hoach-cchc.pdf",
                        "application/pdf")
    app.attach_evidence(officer("STC"), stc, "1.2", blob, "ke-hoach-cchc.pdf",
                        "application/pdf")
    app.withdraw_evidence(officer("STC"), stc, "1.2", blob.sha256, "Đính kèm nhầm tiêu chí")
    scenario.submit_full_marks("STC")
    app.record_self_scores(officer("SNV"), snv, [
        SelfScoreEntry("2.1", not_applicable=True, note="Không có kế hoạch VBQPPL"),
        SelfScoreEntry("2.4", not_applicable=True)])
    app.clock.now = scenario.deadline(Phase.SELF_ASSESSMENT) + timedelta(hours=1)
    app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id)
    app.extend_deadline(SECRETARIAT, scenario.cycle_id, "SNV", Phase.SELF_ASSESSMENT,
                        app.clock.now + timedelta(days=2), "Đơn vị đang sáp nhập")
    app.record_self_scores(officer("SNV"), snv, [SelfScoreEntry("1.1.1", {"done": False})])
    app.clock.now += timedelta(days=3)
    app.lock_overdue_scorecards(SECRETARIAT, scenario.cycle_id)
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_1)
    app.appraise(APPRAISER, stc, 1, [adjust("1.3", "0.75", "Chỉ kiểm tra 15% đơn vị"),
                                     adjust("2.2", "1", "Thiếu 1 báo cáo",
                                            request_explanation=True)])
    for card in scenario.scorecards.values():
        app.accept_remaining(APPRAISER, card, 1)
    app.award_bonus(APPRAISER, stc, "B1", "1.5", "Mô hình một cửa số được Bộ ghi nhận")
    app.impose_penalty(APPRAISER, snv, "P1", "0.5", "Chậm báo cáo đột xuất")
    app.award_bonus(APPRAISER, snv, "B2", "0.25", "Nhập nhầm")
    app.withdraw_bonus_or_penalty(APPRAISER, snv, "B2", "Nhập nhầm đơn vị")
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.EXPLANATION)
    app.attach_evidence(officer("STC"), stc, "1.3", StoredBlob("cd" * 32, 512),
                        "bien-ban-kiem-tra.pdf", "application/pdf")
    app.explain(officer("STC"), stc, "1.3", "Đã kiểm tra 3/10 đơn vị, đạt 30%")
    app.explain(head("STC"), stc, "2.2", "Báo cáo thứ hai gửi qua hệ thống ngày 20/11")
    app.clock.now = scenario.deadline(Phase.EXPLANATION) + timedelta(minutes=1)
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.APPRAISAL_2)
    app.appraise(APPRAISER, stc, 2, [adjust("1.3", "1.5", "Giải trình hợp lý"),
                                     AppraisalEntry("2.2", Decision.ACCEPTED)])
    app.apply_survey_points(SECRETARIAT, scenario.cycle_id,
                            UUID("00000000-0000-4000-8000-000000000001"), [
                                {"unit_code": u, "item_code": i, "points": p,
                                 "detail": {"n": 150, "satisfied_share": "0.9"}}
                                for u, i, p in (("STC", "8.1", "2.7"), ("STC", "8.2", "2.55"),
                                                ("SNV", "8.1", "2.4"), ("SNV", "8.2", "3"))])
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.COUNCIL)
    app.approve_results(COUNCIL, scenario.cycle_id, "Biên bản số 02/BB-HĐ", "Thống nhất")
    app.publish_results(SECRETARIAT, scenario.cycle_id, "QĐ 141/QĐ-UBND", date(2026, 2, 14))
    app.correct_points(SECRETARIAT, snv, "1.2", "1", "Phát hiện thiếu báo cáo quý IV",
                       "QĐ 200/QĐ-UBND")
    return {code: str(app.score_sheet(card)[2].total) for code, card in
            scenario.scorecards.items()}


def write(path: Path) -> None:
    from domain.application import ParIndex
    from tests.conftest import FakeClock

    with tempfile.TemporaryDirectory() as tmp:
        app = ParIndex(settings_from_url(f"sqlite:///{tmp}/f.sqlite3"),
                       clock=FakeClock(datetime(2025, 11, 1, 8, 0, tzinfo=UTC)))
        totals = build_log(app)
        lines = [json.dumps({"totals": totals}, ensure_ascii=False)]
        for n in app.recorder.select_notifications(start=1, limit=100_000):
            lines.append(json.dumps({"originator_id": str(n.originator_id),
                                     "originator_version": n.originator_version,
                                     "topic": n.topic, "state": n.state.decode("utf-8")},
                                    ensure_ascii=False))
        app.close()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines) - 1} events to {path}")


if __name__ == "__main__":
    write(HERE / sys.argv[1] if len(sys.argv) > 1 else FIXTURE)
