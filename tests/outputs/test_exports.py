"""CSV and XLSX exports read back to exactly the numbers the views give — live and as of a past
position — with Vietnamese intact, one sheet per group and frozen headers; the export routes
follow the views' read rules."""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook

from projections.outputs.exports import (
    AUDIT_COLUMNS,
    FIELD_COLUMNS,
    RANKING_COLUMNS,
    SCORECARD_COLUMNS,
    Column,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def read_csv(body: bytes, columns: tuple[Column, ...]) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM, so Excel reads Vietnamese"
    text = body.decode("utf-8-sig")
    assert unicodedata.is_normalized("NFC", text)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [c.label for c in columns]
    return [{c.key: value for c, value in zip(columns, row, strict=True)} for row in rows[1:]]


def sheet_rows(sheet: Any, columns: tuple[Column, ...]) -> list[dict[str, Any]]:
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == [c.label for c in columns]
    return [{c.key: v for c, v in zip(columns, row, strict=True)} for row in values[1:]]


def same_number(text_value: Any, view_value: Any) -> bool:
    if view_value is None:
        return text_value in ("", None)
    return Decimal(str(text_value)) == Decimal(str(view_value))


def assert_rows_match(exported: list[dict[str, Any]], view_rows: list[dict[str, Any]],
                      columns: tuple[Column, ...], xlsx: bool = False) -> None:
    assert len(exported) == len(view_rows)
    for got, want in zip(exported, view_rows, strict=True):
        for column in columns:
            value, expected = got[column.key], want.get(column.key)
            if column.kind == "number":
                if xlsx and expected is not None:
                    assert isinstance(value, float | int), (column.key, value)
                    # Excel keeps 15 significant digits: unrounded totals agree to those.
                    assert math.isclose(value, float(Decimal(expected)), rel_tol=1e-14,
                                        abs_tol=1e-13), (column.key, value, expected)
                else:
                    assert same_number(value, expected), (column.key, value, expected)
            elif column.kind == "integer":
                if xlsx and expected is not None:
                    assert isinstance(value, int), (column.key, value)
                assert same_number(value, expected), (column.key, value, expected)
            elif column.kind == "flag":
                assert value == ("" if expected is None and not xlsx else None
                                 if expected is None else "có" if expected else "không")
            elif column.key in want:
                assert (value or None) == (unicodedata.normalize("NFC", expected)
                                           if isinstance(expected, str) else expected)


def views_of_rankings(demo, who: str = "inspector", **params: Any) -> list[dict[str, Any]]:
    views = []
    for group in ("SO", "XA"):
        response = demo.get(f"/cycles/{demo.cycle}/groups/{group}/ranking", who, **params)
        assert response.status_code == 200, response.text
        views.append(response.json())
    return views


def ranking_rows(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"group_code": v["group_code"], "group_name": v["group_name"], **row}
            for v in views for row in v["rows"]]


def test_ranking_csv_reads_back_to_the_ranking_views(demo):
    response = demo.get(f"/cycles/{demo.cycle}/exports/ranking", format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"chi-so-cchc-2025-khanh-hoa")
    assert "filename*=UTF-8''Ch%E1%BB%89%20s%E1%BB%91" in disposition
    views = views_of_rankings(demo)
    assert response.headers["x-as-of-position"] == str(views[0]["as_of_position"])
    rows = read_csv(response.content, RANKING_COLUMNS)
    assert_rows_match(rows, ranking_rows(views), RANKING_COLUMNS)
    by_unit = {r["unit_code"]: r for r in rows}
    assert by_unit["STC"]["unit_name"] == "Sở Tài chính"
    assert by_unit["STC"]["rank"] == by_unit["SKHCN"]["rank"] == "3"  # the tie
    assert by_unit["TTT"]["rank"] == "" and by_unit["TTT"]["ranked"] == "không"
    assert {r["classification"] for r in rows} >= {"Xuất sắc", "Tốt", "Khá"}
    assert any(r["total"] != Decimal(r["total"]).quantize(Decimal("0.01")).to_eng_string()
               for r in rows), "totals are exported unrounded"


def test_ranking_xlsx_has_number_cells_a_frozen_header_and_one_sheet_per_group(demo):
    response = demo.get(f"/cycles/{demo.cycle}/exports/ranking", format="xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["SO", "XA", "Thống kê"]
    assert "Khánh Hòa" in book.properties.title
    views = views_of_rankings(demo)
    for view in views:
        sheet = book[view["group_code"]]
        assert sheet.freeze_panes == "A2"
        assert sheet["G2"].data_type == "n" and sheet["G2"].number_format == "0.00"
        rows = sheet_rows(sheet, RANKING_COLUMNS)
        assert_rows_match(rows, ranking_rows([view]), RANKING_COLUMNS, xlsx=True)
    stats = book["Thống kê"]
    assert stats.freeze_panes == "A2"
    header = [c.value for c in stats[1]]
    for index, view in enumerate(views, start=2):
        row = dict(zip(header, [c.value for c in stats[index]], strict=True))
        assert row["Điểm trung bình"] == float(Decimal(view["average"]))
        assert row["Số đơn vị trên trung bình"] == view["above_average"]
        assert row["Số đơn vị Xuất sắc"] == view["class_counts"]["Xuất sắc"]
        assert row["Năm trước: Tốt"] == view["previous_class_counts"]["Tốt"]


def test_field_exports_read_back_to_the_field_comparisons(demo):
    path = f"/cycles/{demo.cycle}/exports/fields"
    csv_rows = read_csv(demo.get(path, format="csv").content, FIELD_COLUMNS)
    assert {r["group_code"] for r in csv_rows} == {"SO", "XA"}
    book = load_workbook(io.BytesIO(demo.get(path, format="xlsx", group_code="SO").content))
    assert book.sheetnames == ["SO"] and book["SO"].freeze_panes == "A2"
    sheet = sheet_rows(book["SO"], FIELD_COLUMNS)
    fields = sorted({r["field_code"] for r in sheet})
    assert fields == sorted({r["field_code"] for r in csv_rows if r["group_code"] == "SO"})
    assert len(fields) == 8
    for group, field_code in [("SO", code) for code in fields] + [("XA", "3")]:
        view = demo.get(f"/cycles/{demo.cycle}/groups/{group}/fields/{field_code}").json()
        want = [{"group_code": group, "field_code": field_code,
                 "field_title": view["field_title"], **r} for r in view["rows"]]
        assert_rows_match([r for r in csv_rows if (r["group_code"], r["field_code"]) ==
                           (group, field_code)], want, FIELD_COLUMNS)
        if group == "SO":
            assert_rows_match([r for r in sheet if r["field_code"] == field_code], want,
                              FIELD_COLUMNS, xlsx=True)
    one = demo.get(path, format="csv", group_code="XA", field_code="3")
    assert {(r["group_code"], r["field_code"]) for r in read_csv(one.content, FIELD_COLUMNS)} \
        == {("XA", "3")}


def test_a_scorecard_export_reads_back_to_the_scorecard_view(demo):
    card = demo.card("STC")
    view = demo.get(f"/scorecards/{card}").json()
    rows = read_csv(demo.get(f"/scorecards/{card}/export", format="csv").content,
                    SCORECARD_COLUMNS)
    flat: dict[str, dict[str, Any]] = {}

    def visit(node: dict[str, Any]) -> None:
        flat[node["code"]] = node
        for child in node.get("children", ()):
            visit(child)

    for field in view["fields"]:
        visit(field)
    assert [r["code"] for r in rows] == list(flat)
    for row in rows:
        node = flat[row["code"]]
        assert same_number(row["points"], node["points"])
        assert same_number(row["applicable_max"], node["applicable_max"])
        if "item" in node:
            assert same_number(row["self_points"], node["item"]["self_points"])
            round1 = node["item"]["round1"] or {}
            assert same_number(row["round1_points"], round1.get("points"))
    assert rows[0]["title"] == view["fields"][0]["title"]
    book = load_workbook(io.BytesIO(demo.get(f"/scorecards/{card}/export",
                                             format="xlsx").content))
    assert book.sheetnames == ["STC", "Tổng hợp"]
    totals = {r[0]: r[2] for r in book["Tổng hợp"].iter_rows(min_row=2, values_only=True)}
    assert totals["total"] == float(Decimal(view["totals"]["total"])) == 89.11
    assert totals["bonus"] == 2.0


def test_the_audit_export_holds_every_row_of_the_audit_view(demo):
    pages, cursor = [], None
    while True:
        params = {"unit_code": "STC", "cycle_id": str(demo.cycle), "limit": 100}
        page = demo.get("/audit", **params, **({"cursor": cursor} if cursor else {})).json()
        pages += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    response = demo.get("/audit/export", format="csv", unit_code="STC",
                        cycle_id=str(demo.cycle))
    rows = read_csv(response.content, AUDIT_COLUMNS)
    assert len(rows) == len(pages) > 60
    for got, want in zip(rows, pages, strict=True):
        assert int(got["position"]) == want["position"]
        assert (got["old_value"], got["new_value"]) == (want["old_value"] or "",
                                                        want["new_value"] or "")
        assert got["reason"] == (want["reason"] or "")
    book = load_workbook(io.BytesIO(demo.get("/audit/export", format="xlsx", unit_code="STC",
                                             cycle_id=str(demo.cycle)).content))
    sheet = book["Nhật ký"]
    assert sheet.freeze_panes == "A2"
    numbers = [row for row in sheet_rows(sheet, AUDIT_COLUMNS) if row["kind"] == "self_score"]
    assert numbers and all(isinstance(r["new_value"], float | int)
                           or r["new_value"] == "not applicable" for r in numbers)
    assert any(isinstance(r["new_value"], float) for r in numbers)


def test_exports_follow_the_read_rules_of_the_views(demo):
    assert demo.get("/audit/export", "integrator").status_code == 403
    assert demo.get("/audit/export", "stc", unit_code="SNV").status_code == 403
    own = read_csv(demo.get("/audit/export", "stc").content, AUDIT_COLUMNS)
    assert own and {r["unit_code"] for r in own} == {"STC"}
    public = read_csv(demo.get(f"/cycles/{demo.cycle}/exports/ranking", "integrator",
                               group_code="SO").content, RANKING_COLUMNS)
    assert "TTT" not in {r["unit_code"] for r in public}, "evaluated-only units stay internal"
    assert len(public) == 20
    ttt = demo.card("TTT")
    assert demo.get(f"/scorecards/{ttt}/export", "integrator").status_code == 403
    assert demo.get(f"/scorecards/{ttt}/export", "ttt").status_code == 200
    # Before publication: the unit its own scorecard, nobody outside the group's results.
    draft = demo.draft_cards["STC"]
    assert demo.get(f"/scorecards/{draft}/export", "stc").status_code == 200
    assert demo.get(f"/scorecards/{draft}/export", "snv").status_code == 403
    assert demo.get(f"/scorecards/{draft}/export", "integrator").status_code == 403
    assert demo.get(f"/cycles/{demo.draft_cycle}/exports/ranking", "stc").status_code == 403
    # The past is for the secretariat, council and inspectors.
    assert demo.get(f"/cycles/{demo.cycle}/exports/ranking", "integrator",
                    as_of_position=10).status_code == 403
    assert demo.get(f"/cycles/{demo.cycle}/exports/ranking", format="ods").status_code == 422
    unknown = demo.get(f"/cycles/{demo.cycle}/exports/ranking", fromat="csv")
    assert unknown.status_code == 422 and unknown.json()["field"] == "fromat"


def test_an_export_as_of_a_position_equals_the_view_as_of_it(demo):
    """Before the post-publication correction of Phường Cam Ranh its total was lower."""
    correction = demo.get("/audit", kind="correction").json()["rows"][0]
    before = correction["position"] - 1
    past_views = [demo.get(f"/cycles/{demo.cycle}/groups/XA/ranking",
                           as_of_position=before).json()]
    response = demo.get(f"/cycles/{demo.cycle}/exports/ranking", format="csv",
                        group_code="XA", as_of_position=before)
    assert response.headers["x-as-of-position"] == str(before)
    past = read_csv(response.content, RANKING_COLUMNS)
    assert_rows_match(past, ranking_rows(past_views), RANKING_COLUMNS)
    now = {r["unit_code"]: r for r in read_csv(demo.get(
        f"/cycles/{demo.cycle}/exports/ranking", format="csv", group_code="XA").content,
        RANKING_COLUMNS)}
    then = {r["unit_code"]: r for r in past}
    unit = correction["unit_code"]
    assert Decimal(then[unit]["total"]) < Decimal(now[unit]["total"])


def test_an_unchanged_export_answers_304(demo):
    path = f"/cycles/{demo.cycle}/exports/ranking"
    first = demo.get(path, format="xlsx")
    again = demo.client.get(f"/api/v1{path}", params={"format": "xlsx"},
                            headers={**demo.tokens["inspector"],
                                     "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = demo.get(path, format="csv")
    assert other.headers["etag"] != first.headers["etag"]
