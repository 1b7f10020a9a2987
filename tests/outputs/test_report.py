"""The per-unit PDF report of the demo: what it says (read back with pypdf), that its SHA-256
is recomputed as of the position it names, who gets which edition, and the CLI."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

from api.cli import main
from api.commands.outputs import demo_hint


def pdf_text(body: bytes) -> str:
    assert body.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    assert unicodedata.is_normalized("NFC", text)
    return " ".join(text.split())


def flat(text: str) -> str:
    return " ".join(text.split())


def first_adjustment_reason(explained: dict) -> str:
    def items(node):
        if "item" in node:
            yield node
        for child in node.get("children", ()):
            yield from items(child)

    for field in explained["fields"]:
        for node in items(field):
            for event in node["events"]:
                if event["kind"] == "appraisal_round_1" and \
                        event["old_value"] != event["new_value"]:
                    return event["reason"]
    raise AssertionError("the demo adjusts items in round 1")


def test_the_report_states_total_class_rank_reasons_last_year_and_how_to_verify(demo):
    card = demo.card("STC")
    response = demo.get(f"/scorecards/{card}/report")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].endswith(".pdf")
    text = pdf_text(response.content)
    for expected in (
        "BÁO CÁO KẾT QUẢ XÁC ĐỊNH CHỈ SỐ CẢI CÁCH HÀNH CHÍNH NĂM 2025", "Sở Tài chính",
        "TỈNH KHÁNH HÒA", "tỉnh Khánh Hòa", "Khối sở, ban, ngành tỉnh", "QĐ 398/QĐ-UBND",
        "89.11 / 100 điểm", "Xếp loại Tốt", "3 / 20 đơn vị",
        "đồng hạng với Sở Khoa học và Công nghệ", "Trung bình khối 85.10",
        # last year: total 77.37, 18th, Khá → +11.74, up 15 places, class changed
        "So sánh với năm 2024", "Tổng điểm 77.37 89.11 +11.74", "Xếp hạng 18 / 20 3 / 20 tăng "
        "15 bậc", "Xếp loại Khá Tốt thay đổi",
        "Tự đánh giá 64.10 → thẩm định vòng 1 59.10 → cuối cùng 64.10",
        "Giải trình của đơn vị", "Đạt giải Nhất Hội thi", "+2.00 / −0.00",
        "THỦ TRƯỞNG SỞ TÀI CHÍNH", "(Ký, ghi rõ họ tên, đóng dấu)",
    ):
        assert expected in text, expected
    explained = demo.get(f"/scorecards/{card}/explain").json()
    assert flat(first_adjustment_reason(explained)) in text
    digest, position = response.headers["x-report-sha256"], response.headers["x-as-of-position"]
    assert len(digest) == 64 and f"SHA-256 của dữ liệu báo cáo {digest}" in text
    assert f"Vị trí toàn cục (global position) {position}" in text
    assert "signed checkpoint): chưa gắn vào báo cáo này" in text
    # Rebuilt as of the position it names, the data hashes the same, and the PDF is the same.
    again = demo.get(f"/scorecards/{card}/report", as_of_position=int(position))
    assert again.headers["x-report-sha256"] == digest
    assert again.content == response.content
    # Before the round-2 decisions the data differ.
    round2 = demo.get("/audit", kind="appraisal_round_2", unit_code="STC",
                      cycle_id=str(demo.cycle)).json()["rows"][0]["position"]
    earlier = demo.get(f"/scorecards/{card}/report", as_of_position=round2 - 1)
    assert earlier.headers["x-report-sha256"] != digest
    assert "Chưa công bố" not in pdf_text(earlier.content)  # the inspector sees every rank


def test_the_public_edition_leaves_out_reasons_and_evaluated_only_units(demo):
    card = demo.card("STC")
    public = demo.get(f"/scorecards/{card}/report", "integrator")
    assert public.status_code == 200
    text = pdf_text(public.content)
    explained = demo.get(f"/scorecards/{card}/explain").json()
    assert flat(first_adjustment_reason(explained)) not in text
    assert "Bản công khai" in text and "89.11 / 100 điểm" in text and "3 / 20 đơn vị" in text
    assert public.headers["x-report-sha256"] != demo.get(
        f"/scorecards/{card}/report").headers["x-report-sha256"]
    assert demo.get(f"/scorecards/{demo.card('TTT')}/report", "integrator").status_code == 403
    # Another unit reads a published, ranked unit's report in its public form.
    other = demo.get(f"/scorecards/{card}/report", "snv")
    assert other.status_code == 200 and "Bản công khai" in pdf_text(other.content)


def test_before_publication_only_the_unit_reads_its_report_without_rank(demo):
    draft = demo.draft_cards["STC"]
    own = demo.get(f"/scorecards/{draft}/report", "stc_head")
    assert own.status_code == 200, own.text
    text = pdf_text(own.content)
    assert "Xếp hạng trong khối Chưa công bố" in text
    assert "Trung bình khối Chưa công bố" in text
    assert "kết quả chưa công bố" in text
    assert "So sánh với năm 2025" in text  # last year's published result of the same unit
    for who in ("snv", "integrator"):
        assert demo.get(f"/scorecards/{draft}/report", who).status_code == 403
    evaluated_only = demo.get(f"/scorecards/{demo.card('TTT')}/report", "ttt")
    assert evaluated_only.status_code == 200
    assert "Không xếp hạng" in pdf_text(evaluated_only.content)


def test_the_cli_writes_the_report_and_an_export(demo, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PARINDEX_DATABASE_URL", demo.url)
    card = demo.card("STC")
    out = tmp_path / "bao-cao.pdf"
    assert main(["report", "--scorecard", str(card), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    http = demo.get(f"/scorecards/{card}/report").headers["x-report-sha256"]
    assert f"sha256 of the report's data: {http}" in printed
    assert "Sở Tài chính" in pdf_text(out.read_bytes())
    sheet = tmp_path / "xep-hang.xlsx"
    assert main(["export", "ranking", "--cycle", str(demo.cycle), "--group", "SO",
                 "-o", str(sheet)]) == 0
    assert Path(sheet).read_bytes()[:2] == b"PK"
    chart = tmp_path / "xep-hang.svg"
    assert main(["chart", "ranking", "--cycle", str(demo.cycle), "--group", "SO",
                 "-o", str(chart)]) == 0
    assert "Sở Tài chính" in chart.read_text(encoding="utf-8")
    assert main(["chart", "ranking", "--cycle", str(demo.cycle), "--group", "NO",
                 "-o", str(chart)]) == 1
    with pytest.raises(SystemExit):
        main(["export", "ranking", "--cycle", str(demo.cycle), "-o", str(tmp_path / "x.ods")])
    hint = demo_hint(demo.app, demo.summary)
    assert f"parindex report --scorecard {card} -o" in hint and str(demo.cycle) in hint
