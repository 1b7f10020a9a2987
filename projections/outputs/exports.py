"""CSV and XLSX exports of rankings, field comparisons, a scorecard and the audit trail.

CSV: RFC 4180, comma-separated, UTF-8 with a byte-order mark (so Excel shows Vietnamese), one
header row, numbers exactly as the views give them (unrounded, dot as decimal separator).
XLSX: the same columns; numbers are number cells (shown with two decimals, unrounded inside),
the header row is frozen and filtered, one sheet per group. Headers are Vietnamese; `COLUMNS`
maps each to the view field it carries (docs/outputs.md lists them).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from projections.outputs.common import nfc, number

BOM = "\ufeff"
CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YES, NO = "có", "không"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | number | integer | flag | auto (a number when it reads as one)
    width: int = 12


def _col(key: str, label: str, kind: str = "text", width: int = 12) -> Column:
    return Column(key, label, kind, width)


RANKING_COLUMNS = (
    _col("group_code", "Mã khối", width=9), _col("group_name", "Khối", width=26),
    _col("rank", "Hạng", "integer", 7), _col("unit_code", "Mã đơn vị", width=14),
    _col("unit_name", "Tên đơn vị", width=40), _col("ranked", "Được xếp hạng", "flag", 9),
    _col("total", "Tổng điểm", "number"), _col("appraised_part", "Điểm thẩm định", "number"),
    _col("survey_part", "Điểm điều tra xã hội học", "number"),
    _col("bonus", "Điểm thưởng", "number"), _col("penalty", "Điểm trừ", "number"),
    _col("classification", "Xếp loại"), _col("above_average", "Trên trung bình khối", "flag"),
    _col("previous_total", "Tổng điểm năm trước", "number"),
    _col("total_delta", "Tăng/giảm điểm", "number"),
    _col("previous_rank", "Hạng năm trước", "integer"),
    _col("rank_delta", "Tăng/giảm hạng", "integer"),
    _col("previous_classification", "Xếp loại năm trước"),
    _col("scorecard_id", "Mã phiếu điểm", width=38),
)

GROUP_SUMMARY_COLUMNS = (
    _col("group_code", "Mã khối", width=9), _col("group_name", "Khối", width=26),
    _col("ranked_count", "Số đơn vị xếp hạng", "integer"),
    _col("average", "Điểm trung bình", "number"),
    _col("above_average", "Số đơn vị trên trung bình", "integer"),
    _col("minimum", "Thấp nhất", "number"), _col("maximum", "Cao nhất", "number"),
    _col("gap", "Chênh lệch cao nhất – thấp nhất", "number"),
)

FIELD_COLUMNS = (
    _col("group_code", "Mã khối", width=9), _col("field_code", "Mã lĩnh vực", width=9),
    _col("field_title", "Lĩnh vực", width=40),
    _col("unit_code", "Mã đơn vị", width=14), _col("unit_name", "Tên đơn vị", width=40),
    _col("ranked", "Được xếp hạng", "flag", 9), _col("points", "Điểm đạt", "number"),
    _col("max_points", "Điểm tối đa", "number"),
    _col("applicable_max", "Điểm tối đa áp dụng", "number"),
    _col("percent", "Tỷ lệ % điểm tối đa", "number"),
    _col("points_lost", "Điểm bị mất", "number"),
)

SCORECARD_COLUMNS = (
    _col("code", "Mã", width=9), _col("level", "Cấp", width=12),
    _col("title", "Nội dung", width=50), _col("max_points", "Điểm tối đa", "number"),
    _col("applicable_max", "Điểm tối đa áp dụng", "number"),
    _col("self_points", "Điểm tự đánh giá", "number"),
    _col("round1_decision", "Thẩm định vòng 1"), _col("round1_points", "Điểm vòng 1", "number"),
    _col("explanation", "Giải trình của đơn vị", width=40),
    _col("round2_decision", "Thẩm định vòng 2"), _col("round2_points", "Điểm vòng 2", "number"),
    _col("survey_points", "Điểm điều tra", "number"),
    _col("corrected_points", "Điểm hiệu chỉnh", "number"),
    _col("not_applicable", "Không áp dụng", "flag"),
    _col("points", "Điểm cuối cùng", "number"), _col("percent", "Tỷ lệ %", "number"),
    _col("source", "Nguồn điểm", width=18),
)

SCORECARD_TOTAL_COLUMNS = (
    _col("key", "Chỉ tiêu", width=34), _col("label", "Diễn giải", width=40),
    _col("value", "Giá trị", "number"),
)

AUDIT_COLUMNS = (
    _col("position", "Vị trí", "integer", 9), _col("recorded_at", "Thời điểm (UTC)", width=28),
    _col("unit_code", "Mã đơn vị", width=14), _col("item_code", "Tiêu chí", width=9),
    _col("kind", "Loại thay đổi", width=18), _col("old_value", "Giá trị cũ", "auto"),
    _col("new_value", "Giá trị mới", "auto"), _col("actor_id", "Người thực hiện", width=26),
    _col("actor_role", "Vai trò", width=14), _col("reason", "Lý do", width=50),
    _col("decision_ref", "Văn bản quyết định", width=24),
    _col("event_id", "Mã sự kiện", width=44), _col("cycle_id", "Mã kỳ đánh giá", width=38),
    _col("scorecard_id", "Mã phiếu điểm", width=38),
)

COLUMNS = {"ranking": RANKING_COLUMNS, "group_summary": GROUP_SUMMARY_COLUMNS,
           "fields": FIELD_COLUMNS, "scorecard": SCORECARD_COLUMNS,
           "scorecard_totals": SCORECARD_TOTAL_COLUMNS, "audit": AUDIT_COLUMNS}


@dataclass(frozen=True)
class Sheet:
    title: str
    columns: Sequence[Column]
    rows: list[dict[str, Any]]


# -- row shapes ---------------------------------------------------------------------------------


def ranking_rows(ranking: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"group_code": ranking["group_code"], "group_name": ranking["group_name"], **row}
            for row in ranking["rows"]]


def summary_row(ranking: dict[str, Any]) -> dict[str, Any]:
    row = {key: ranking.get(key) for key in ("group_code", "group_name", "ranked_count",
                                             "average", "above_average", "minimum",
                                             "maximum", "gap")}
    for label, count in ranking["class_counts"].items():
        row[f"class:{label}"] = count
    for label, count in (ranking.get("previous_class_counts") or {}).items():
        row[f"previous_class:{label}"] = count
    return row


def summary_columns(rankings: Sequence[dict[str, Any]]) -> list[Column]:
    columns = list(GROUP_SUMMARY_COLUMNS)
    labels: list[str] = []
    previous: list[str] = []
    for ranking in rankings:
        labels += [label for label in ranking["class_counts"] if label not in labels]
        previous += [label for label in (ranking.get("previous_class_counts") or {})
                     if label not in previous]
    columns += [Column(f"class:{label}", f"Số đơn vị {label}", "integer") for label in labels]
    columns += [Column(f"previous_class:{label}", f"Năm trước: {label}", "integer")
                for label in previous]
    return columns


def field_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"group_code": comparison["group_code"], "field_code": comparison["field_code"],
             "field_title": comparison["field_title"], **row} for row in comparison["rows"]]


def scorecard_rows(scorecard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every field, criterion and item of the tree, in order."""
    rows: list[dict[str, Any]] = []

    def visit(node: dict[str, Any]) -> None:
        row = {key: node.get(key) for key in ("code", "level", "title", "max_points",
                                              "applicable_max", "points", "percent")}
        item = node.get("item")
        if item is not None:
            round1, round2 = item.get("round1") or {}, item.get("round2") or {}
            row.update(self_points=item.get("self_points"),
                       round1_decision=round1.get("decision"),
                       round1_points=round1.get("points"),
                       explanation=item.get("explanation"),
                       round2_decision=round2.get("decision"),
                       round2_points=round2.get("points"),
                       survey_points=item.get("survey_points"),
                       corrected_points=item.get("corrected_points"),
                       not_applicable=item.get("not_applicable"), source=item.get("source"))
        rows.append(row)
        for child in node.get("children", ()):
            visit(child)

    for field in scorecard["fields"]:
        visit(field)
    return rows


TOTAL_LABELS = (
    ("appraised_part", "Điểm thẩm định (phần do Hội đồng thẩm định chấm)"),
    ("appraised_max", "Điểm tối đa phần thẩm định"),
    ("self_assessed_appraised_part", "Điểm tự đánh giá (phần thẩm định)"),
    ("survey_part", "Điểm điều tra xã hội học"), ("survey_max", "Điểm tối đa phần điều tra"),
    ("bonus", "Điểm thưởng (sau giới hạn)"), ("penalty", "Điểm trừ (sau giới hạn)"),
    ("total", "Tổng điểm"), ("total_percent", "Chỉ số (% điểm tối đa)"),
)


def scorecard_total_rows(scorecard: dict[str, Any]) -> list[dict[str, Any]]:
    totals = scorecard["totals"]
    rows = [{"key": key, "label": label, "value": totals.get(key)} for key, label in TOTAL_LABELS]
    for kind, label in (("bonus_entries", "Thưởng"), ("penalty_entries", "Trừ")):
        for entry_id, entry in sorted(scorecard.get(kind, {}).items()):
            rows.append({"key": f"{kind[:-8]}:{entry_id}",
                         "label": f"{label}: {entry['reason']}", "value": entry["points"]})
    return rows


# -- builders -----------------------------------------------------------------------------------


def ranking_csv(rankings: Sequence[dict[str, Any]]) -> bytes:
    """One CSV of the rankings of one or several groups (a group column tells them apart)."""
    return to_csv(RANKING_COLUMNS, [row for r in rankings for row in ranking_rows(r)])


def ranking_xlsx(rankings: Sequence[dict[str, Any]], *, title: str = "") -> bytes:
    """One sheet per group, then a sheet of group statistics (average, above-average count,
    spread, classes this year and last)."""
    sheets = [Sheet(r["group_code"], RANKING_COLUMNS, ranking_rows(r)) for r in rankings]
    sheets.append(Sheet("Thống kê", summary_columns(rankings),
                        [summary_row(r) for r in rankings]))
    return to_xlsx(sheets, title=title, position=_position(rankings))


def fields_csv(comparisons: Sequence[dict[str, Any]]) -> bytes:
    return to_csv(FIELD_COLUMNS, [row for c in comparisons for row in field_rows(c)])


def fields_xlsx(comparisons: Sequence[dict[str, Any]], *, title: str = "") -> bytes:
    """One sheet per group: every field's comparison, field after field."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for comparison in comparisons:
        by_group.setdefault(comparison["group_code"], []).extend(field_rows(comparison))
    return to_xlsx([Sheet(group, FIELD_COLUMNS, rows) for group, rows in by_group.items()],
                   title=title, position=_position(comparisons))


def scorecard_csv(scorecard: dict[str, Any]) -> bytes:
    return to_csv(SCORECARD_COLUMNS, scorecard_rows(scorecard))


def scorecard_xlsx(scorecard: dict[str, Any], *, title: str = "") -> bytes:
    return to_xlsx([Sheet(scorecard["unit_code"], SCORECARD_COLUMNS, scorecard_rows(scorecard)),
                    Sheet("Tổng hợp", SCORECARD_TOTAL_COLUMNS,
                          scorecard_total_rows(scorecard))],
                   title=title, position=scorecard.get("as_of_position"))


def audit_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    return to_csv(AUDIT_COLUMNS, rows)


def audit_xlsx(rows: Sequence[dict[str, Any]], *, title: str = "",
               position: int | None = None) -> bytes:
    return to_xlsx([Sheet("Nhật ký", AUDIT_COLUMNS, list(rows))], title=title,
                   position=position)


# -- formats ------------------------------------------------------------------------------------


def to_csv(columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> bytes:
    buffer = io.StringIO(newline="")
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([nfc(c.label) for c in columns])
    for row in rows:
        writer.writerow([_csv_value(c, row.get(c.key)) for c in columns])
    return buffer.getvalue().encode("utf-8")


def _csv_value(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "flag":
        return YES if value else NO
    if column.kind in ("number", "integer"):
        return str(number(value))
    return nfc(value)


def to_xlsx(sheets: Sequence[Sheet], *, title: str = "", position: int | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.title = nfc(title) or None
    workbook.properties.creator = "parindex"
    if position is not None:
        workbook.properties.description = f"as_of_position={position}"
        workbook.properties.keywords = f"as_of_position={position}"
    header_font = Font(name="Arial", bold=True)
    header_fill = PatternFill("solid", fgColor="DDE7F0")
    used: set[str] = set()
    for sheet in sheets:
        ws = workbook.create_sheet(_sheet_title(sheet.title, used))
        ws.append([nfc(c.label) for c in sheet.columns])
        for cell in ws[1]:
            cell.font = header_font
            cell.fill = header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in sheet.rows:
            ws.append([_xlsx_value(c, row.get(c.key)) for c in sheet.columns])
        for index, column in enumerate(sheet.columns, start=1):
            letter = get_column_letter(index)
            ws.column_dimensions[letter].width = column.width
            fmt = {"number": "0.00", "integer": "0"}.get(column.kind)
            if fmt is not None:
                for (cell,) in ws.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = fmt
        ws.freeze_panes = "A2"
        if sheet.rows:
            ws.auto_filter.ref = ws.dimensions
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.kind == "flag":
        return YES if value else NO
    if column.kind == "integer":
        return int(value)
    if column.kind == "number":
        return float(Decimal(str(value)))
    if column.kind == "auto":
        try:
            parsed = Decimal(str(value))
        except ArithmeticError:
            return nfc(value)
        return float(parsed) if parsed.is_finite() else nfc(value)
    return nfc(value)


def _sheet_title(title: str, used: set[str]) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\, unique."""
    clean = "".join("-" if ch in "[]:*?/\\" else ch for ch in nfc(title))[:31] or "Sheet"
    candidate, n = clean, 2
    while candidate.lower() in used:
        suffix = f" ({n})"
        candidate, n = clean[:31 - len(suffix)] + suffix, n + 1
    used.add(candidate.lower())
    return candidate


def _position(views: Sequence[dict[str, Any]]) -> int | None:
    positions = {v.get("as_of_position") for v in views} - {None}
    return max(positions) if positions else None
