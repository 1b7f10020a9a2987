"""The pure builders, without a store: Vietnamese arrives decomposed and leaves NFC in every
format; sheet names, file names and digests behave."""

from __future__ import annotations

import io
import unicodedata

from openpyxl import load_workbook
from pypdf import PdfReader

from api.routes.outputs import disposition
from projections.outputs import charts, exports, report
from projections.outputs.common import digest, display, slug

NFD = {name: unicodedata.normalize("NFD", name)
       for name in ("Sở Tài chính", "Xuất sắc", "Khánh Hòa", "Phường Đông Ninh Hòa")}
SCHEME = [{"label": NFD["Xuất sắc"], "min_total": "90"}, {"label": "Tốt", "min_total": "80"},
          {"label": "Khá", "min_total": "0"}]


def ranking() -> dict:
    row = {"scorecard_id": "x", "rank": 1, "unit_code": "STC", "unit_name": NFD["Sở Tài chính"],
           "ranked": True, "total": "90.125", "total_display": "90.13", "appraised_part": "60",
           "survey_part": "30.125", "bonus": "0", "penalty": "0",
           "classification": NFD["Xuất sắc"], "above_average": True, "previous_total": None,
           "total_delta": None, "previous_rank": None, "rank_delta": None,
           "previous_classification": None, "classification_changed": None}
    return {"cycle_id": "c", "province": NFD["Khánh Hòa"], "year": 2025, "group_code": "SO",
            "group_name": "Khối sở", "rows": [row], "ranked_count": 1, "average": "90.125",
            "above_average": 0, "minimum": "90.125", "maximum": "90.125", "gap": "0",
            "class_counts": {"Xuất sắc": 1}, "previous_class_counts": None,
            "as_of_position": 7}


def test_decomposed_vietnamese_leaves_every_format_as_nfc():
    body = exports.ranking_csv([ranking()]).decode("utf-8-sig")
    assert "Sở Tài chính" in body and "Xuất sắc" in body and "90.125" in body
    book = load_workbook(io.BytesIO(exports.ranking_xlsx([ranking()], title=NFD["Khánh Hòa"])))
    assert book["SO"]["E2"].value == "Sở Tài chính" and book["SO"]["G2"].value == 90.125
    assert book.properties.title == "Khánh Hòa"
    svg = charts.ranking_chart(ranking(), SCHEME, "svg").decode("utf-8")
    assert "Sở Tài chính" in svg and "Xuất sắc" in svg and "Khánh Hòa" in svg
    assert charts.ranking_chart(ranking(), SCHEME, "svg").decode() == svg, "reproducible"


def test_sheet_names_are_made_valid_and_unique():
    sheets = [exports.Sheet("a/b:c*" + "x" * 40, exports.GROUP_SUMMARY_COLUMNS, []),
              exports.Sheet("a/b:c*" + "x" * 40, exports.GROUP_SUMMARY_COLUMNS, [])]
    names = load_workbook(io.BytesIO(exports.to_xlsx(sheets))).sheetnames
    assert len(names) == 2 and len(set(names)) == 2
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)


def test_names_digests_and_display():
    assert slug("Sở Tài chính — Đông Ninh Hòa") == "so-tai-chinh-dong-ninh-hoa"
    assert disposition("Xếp hạng Khánh Hòa.csv") == (
        "attachment; filename=\"xep-hang-khanh-hoa.csv\"; "
        "filename*=UTF-8''X%E1%BA%BFp%20h%E1%BA%A1ng%20Kh%C3%A1nh%20H%C3%B2a.csv")
    assert digest({"a": NFD["Khánh Hòa"], "b": 1}) == digest({"b": 1, "a": "Khánh Hòa"})
    assert display("96.275") == "96.28" and display("10.005") == "10.01"
    assert display(None) == "—"


def test_a_minimal_report_renders_and_reads_back():
    data = {
        "edition": "public", "province": NFD["Khánh Hòa"], "year": 2025, "cycle_id": "c",
        "cycle_title": None, "phase": "published", "approval": None,
        "publication": {"decision_ref": "QĐ 1/QĐ-UBND", "decision_date": "2026-02-25"},
        "scorecard_id": "s",
        "unit": {"code": "STC", "name": NFD["Sở Tài chính"], "group_code": "SO",
                 "group_name": "Khối sở", "ranked": True, "status": "submitted"},
        "totals": {"appraised_part": "60", "survey_part": "30", "bonus": "0", "penalty": "0",
                   "total": "90", "total_percent": "90.00", "appraised_max": "68",
                   "survey_max": "32", "self_assessed_appraised_part": "61"},
        "stages": {"self_assessed": "61", "round_1": "59", "final": "60",
                   "appraised_max": "68", "survey_part": "30", "bonus": "0", "penalty": "0",
                   "total": "90"},
        "classification_scheme": SCHEME, "bonus_entries": {}, "penalty_entries": {},
        "fields": [], "checkpoint": None, "group_results_visible": True,
        "classification": NFD["Xuất sắc"], "rank": 1, "ranked_count": 1,
        "group_average": "90", "above_average": False, "tied_with": [], "ranking_row": None,
        "previous": None, "digest": "0" * 64, "as_of_position": 7,
    }
    body = report.report_pdf(data)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    assert "Sở Tài chính" in text and "Xuất sắc" in text and "KHÁNH HÒA" in text
    assert "Đơn vị không có kết quả năm 2024" in " ".join(text.split())
    assert report.report_pdf(data) == body, "the same data gives the same bytes"
