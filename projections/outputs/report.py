"""The per-unit PDF report a province circulates (A4, Vietnamese, DejaVu Sans embedded).

Contents: the unit, cycle and publication; total, class, rank in the group and the group
average; the appraised part as self-assessed, after round 1 and final; last year beside this
year (total, rank, class, every field); every field, criterion and item with the self-score,
both appraisal rounds, survey points, correction and final points, and — in the internal
edition — the reason for every adjustment; bonus and penalty with their reasons; a
verification block (the global position the report reflects and the SHA-256 of its data, which
`report_data` recomputes as of that position; a signed checkpoint when one is supplied) and a
signature block.

The same data gives the same bytes (reportlab's invariant mode; no clock is read).
"""

from __future__ import annotations

import io
import threading
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from projections.outputs.common import display, font_file, nfc, signed

PDF_MEDIA_TYPE = "application/pdf"
FONT, BOLD = "ParindexDejaVuSans", "ParindexDejaVuSans-Bold"

_lock = threading.Lock()
_fonts_lock = threading.Lock()
_fonts_ready = False

PHASES = {"published": "Đã công bố", "council_approval": "Hội đồng thẩm định đang xem xét",
          "approved": "Hội đồng đã thông qua", "self_assessment": "Đơn vị tự đánh giá",
          "appraisal_round_1": "Thẩm định vòng 1", "explanation": "Đơn vị giải trình",
          "appraisal_round_2": "Thẩm định vòng 2", "setup": "Chuẩn bị"}
STAGES = {"appraisal_round_1": "Thẩm định vòng 1", "appraisal_round_2": "Thẩm định vòng 2",
          "correction": "Hiệu chỉnh sau công bố"}
SOURCES = {"self": "tự đánh giá", "appraisal_round_1": "vòng 1", "appraisal_round_2": "vòng 2",
           "survey": "điều tra", "correction": "hiệu chỉnh", "none": "chưa chấm"}


def _register_fonts() -> None:
    global _fonts_ready
    with _fonts_lock:
        if _fonts_ready:
            return
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont(FONT, str(font_file())))
        pdfmetrics.registerFont(TTFont(BOLD, str(font_file(bold=True))))
        addMapping(FONT, 0, 0, FONT)
        addMapping(FONT, 1, 0, BOLD)
        addMapping(FONT, 0, 1, FONT)
        addMapping(FONT, 1, 1, BOLD)
        _fonts_ready = True


def _p(text: Any, style: Any) -> Any:
    from reportlab.platypus import Paragraph

    return Paragraph(escape(nfc(text)).replace("\n", "<br/>"), style)


def report_pdf(data: dict[str, Any]) -> bytes:
    """The report of `data` (from `projections.outputs.data.report_data`) as PDF bytes."""
    _register_fonts()
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, SimpleDocTemplate, Spacer, Table

    base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5)
    note = ParagraphStyle("note", parent=small, textColor=colors.HexColor("#444444"))
    bold = ParagraphStyle("bold", parent=base, fontName=BOLD)
    centre = ParagraphStyle("centre", parent=base, alignment=TA_CENTER)
    centre_bold = ParagraphStyle("centre_bold", parent=bold, alignment=TA_CENTER)
    title = ParagraphStyle("title", parent=bold, fontSize=13, leading=17, alignment=TA_CENTER)
    heading = ParagraphStyle("heading", parent=bold, fontSize=10.5, leading=14, spaceBefore=8,
                             spaceAfter=4)
    grid = [("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde7f0")),
            ("FONTNAME", (0, 0), (-1, 0), BOLD)]

    unit, totals, stages = data["unit"], data["totals"], data["stages"]
    province, year = nfc(data["province"]), data["year"]
    story: list[Any] = []

    # -- heading --------------------------------------------------------------------------------
    story.append(Table(
        [[_p(f"ỦY BAN NHÂN DÂN\nTỈNH {province.upper()}", centre_bold),
          _p("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc", centre_bold)]],
        colWidths=[70 * mm, 110 * mm], style=[("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(Spacer(1, 6 * mm))
    story.append(_p(f"BÁO CÁO KẾT QUẢ XÁC ĐỊNH CHỈ SỐ CẢI CÁCH HÀNH CHÍNH NĂM {year}", title))
    story.append(_p(unit["name"], title))
    story.append(Spacer(1, 2 * mm))
    if data.get("cycle_title"):
        story.append(_p(data["cycle_title"], centre))
    story.append(Spacer(1, 4 * mm))

    # -- summary --------------------------------------------------------------------------------
    publication = data.get("publication")
    phase = PHASES.get(data["phase"], data["phase"])
    status = (f"{phase}: {publication['decision_ref']} ngày {_date(publication['decision_date'])}"
              if publication else f"{phase} (kết quả chưa công bố)")
    summary = [
        ["Đơn vị", f"{unit['name']} (mã {unit['code']})"],
        ["Khối", f"{unit['group_name']} ({unit['group_code']})"],
        ["Kỳ đánh giá", f"Năm {year}, tỉnh {province} — {status}"],
        ["Tổng điểm", f"{display(totals['total'])} / 100 điểm "
                      f"(chỉ số {display(totals['total_percent'])}%)"],
        ["Xếp loại", _classification(data)],
        ["Xếp hạng trong khối", _rank(data)],
        ["Trung bình khối", _average(data)],
        ["Cấu thành tổng điểm", f"Thẩm định {display(totals['appraised_part'])} / "
                                f"{display(totals['appraised_max'])}; điều tra xã hội học "
                                f"{display(totals['survey_part'])} / "
                                f"{display(totals['survey_max'])}; điểm thưởng "
                                f"{display(totals['bonus'])}; điểm trừ "
                                f"{display(totals['penalty'])}"],
        ["Phần thẩm định qua các vòng",
         f"Tự đánh giá {display(stages['self_assessed'])} → thẩm định vòng 1 "
         f"{display(stages['round_1'])} → cuối cùng {display(stages['final'])} "
         f"(tối đa {display(stages['appraised_max'])})"],
    ]
    story.append(Table([[_p(k, bold), _p(v, base)] for k, v in summary],
                       colWidths=[45 * mm, 135 * mm],
                       style=[*grid[:4], ("BACKGROUND", (0, 0), (0, -1),
                                          colors.HexColor("#f2f2f2"))]))

    # -- previous year --------------------------------------------------------------------------
    story.append(_p(f"So sánh với năm {year - 1}", heading))
    previous = data.get("previous")
    if previous is None:
        story.append(_p(f"Đơn vị không có kết quả năm {year - 1} trong phạm vi được xem "
                        "(chưa có kỳ đánh giá, đơn vị mới thành lập hoặc chưa công bố).", base))
    else:
        story.append(_previous_table(data, previous, base, bold, grid))

    # -- items ----------------------------------------------------------------------------------
    story.append(_p("Kết quả theo lĩnh vực, tiêu chí và tiêu chí thành phần", heading))
    if data["edition"] == "public":
        story.append(_p("Bản công khai: lý do điều chỉnh từng tiêu chí, người thực hiện, tài "
                        "liệu kiểm chứng và ghi chú chỉ có trong bản dành cho đơn vị, Sở Nội "
                        "vụ, Hội đồng thẩm định và thanh tra.", note))
        story.append(Spacer(1, 2 * mm))
    cell = ParagraphStyle("cell", parent=base, fontSize=8, leading=10)
    cell_bold = ParagraphStyle("cell_bold", parent=cell, fontName=BOLD)
    story.append(_items_table(data, cell, small, cell_bold, grid))

    # -- bonus and penalty ----------------------------------------------------------------------
    story.append(_p("Điểm thưởng, điểm trừ", heading))
    entries = [("Thưởng", e) for _, e in sorted(data["bonus_entries"].items())] + \
              [("Trừ", e) for _, e in sorted(data["penalty_entries"].items())]
    if entries:
        rows = [[_p("Loại", bold), _p("Lý do", bold), _p("Điểm", bold)]]
        rows += [[_p(kind, base), _p(e["reason"], base), _p(display(e["points"]), base)]
                 for kind, e in entries]
        rows.append([_p("Tính vào tổng", bold),
                     _p("Sau giới hạn của bộ chỉ số (thưởng và trừ giới hạn riêng)", small),
                     _p(f"+{display(totals['bonus'])} / −{display(totals['penalty'])}", bold)])
        story.append(Table(rows, colWidths=[25 * mm, 125 * mm, 30 * mm], style=grid,
                           repeatRows=1))
    else:
        story.append(_p("Không có.", base))

    # -- verification and signatures ------------------------------------------------------------
    story.append(Spacer(1, 5 * mm))
    story.append(KeepTogether([_p("Xác thực dữ liệu", heading),
                               _verification(data, base, small, grid)]))
    story.append(Spacer(1, 6 * mm))
    story.append(KeepTogether(_signatures(data, base, centre, centre_bold)))

    buffer = io.BytesIO()
    position, digest = data.get("as_of_position"), data["digest"]

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(15 * mm, 9 * mm, nfc(
            f"{unit['name']} — Chỉ số CCHC năm {year} — vị trí {position} — "
            f"SHA-256 {digest[:16]}…"))
        canvas.drawRightString(195 * mm, 9 * mm, f"Trang {document.page}")
        canvas.restoreState()

    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
        bottomMargin=16 * mm, invariant=1, title=nfc(f"Chỉ số CCHC {year} — {unit['name']}"),
        author="parindex", subject=f"as_of_position={position}; sha256={digest}",
        creator="parindex")
    with _lock:  # reportlab's TrueType subsetting state is shared between documents
        document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _date(value: str) -> str:
    parts = str(value).split("-")
    return f"{parts[2]}/{parts[1]}/{parts[0]}" if len(parts) == 3 else str(value)


def _classification(data: dict[str, Any]) -> str:
    label = data.get("classification") or "—"
    return label if data["group_results_visible"] else f"{label} (tạm tính theo thang xếp loại)"


def _rank(data: dict[str, Any]) -> str:
    if not data["unit"]["ranked"]:
        return "Không xếp hạng (đơn vị chỉ được đánh giá, không xếp hạng cùng khối)"
    if not data["group_results_visible"]:
        return "Chưa công bố"
    tied = data.get("tied_with") or []
    text = f"{data['rank']} / {data['ranked_count']} đơn vị"
    return text + (f" (đồng hạng với {', '.join(tied)})" if tied else "")


def _average(data: dict[str, Any]) -> str:
    if not data["group_results_visible"] or data.get("group_average") is None:
        return "Chưa công bố"
    gap = signed(Decimal(data["totals"]["total"]) - Decimal(data["group_average"]))
    if not data["unit"]["ranked"]:
        where = "đơn vị không xếp hạng nên không tính vào trung bình"
    else:
        where = "đơn vị " + ("trên" if data.get("above_average") else "không cao hơn") + \
            " mức trung bình"
    return f"{display(data['group_average'])} điểm — {where} (chênh lệch {gap})"


def _previous_table(data: dict[str, Any], previous: dict[str, Any], base: Any, bold: Any,
                    grid: list[Any]) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import Table

    year = data["year"]
    current_rank = data.get("rank") if data["group_results_visible"] else None
    rows = [["", f"Năm {previous['year']}", f"Năm {year}", "Thay đổi"],
            ["Tổng điểm", display(previous["total"]), display(data["totals"]["total"]),
             signed(previous["total_delta"])],
            ["Xếp hạng", _or_dash(previous.get("rank"), previous.get("ranked_count")),
             _or_dash(current_rank, data.get("ranked_count")),
             _rank_change(previous.get("rank_delta"))],
            ["Xếp loại", previous.get("classification") or "—",
             data.get("classification") or "—",
             "không đổi" if previous.get("classification") == data.get("classification")
             else "thay đổi"]]
    for field in data["fields"]:
        before = previous["fields"].get(field["code"])
        now = Decimal(field["percent"])
        rows.append([f"Lĩnh vực {field['code']}. {field['title']} (% tối đa)",
                     f"{display(before['percent'])}%" if before else "—",
                     f"{display(now)}%",
                     f"{signed(now - Decimal(before['percent']))} điểm %" if before else "—"])
    if previous.get("unit_name") and previous["unit_name"] != data["unit"]["name"]:
        rows.append([f"Tên đơn vị năm {previous['year']}", previous["unit_name"], "", ""])
    return Table([[_p(c, bold if i == 0 or j == 0 else base) for j, c in enumerate(row)]
                  for i, row in enumerate(rows)],
                 colWidths=[84 * mm, 30 * mm, 30 * mm, 36 * mm], style=grid)


def _or_dash(rank: Any, count: Any) -> str:
    if rank is None:
        return "—"
    return f"{rank} / {count}" if count else str(rank)


def _rank_change(delta: Any) -> str:
    if delta is None:
        return "—"
    if delta == 0:
        return "giữ nguyên"
    return f"tăng {delta} bậc" if delta > 0 else f"giảm {-delta} bậc"


def _items_table(data: dict[str, Any], base: Any, small: Any, bold: Any,
                 grid: list[Any]) -> Any:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Table

    header = ["Mã", "Nội dung", "Tối đa", "Tự đánh giá", "Vòng 1", "Vòng 2", "Cuối cùng"]
    rows: list[list[Any]] = [[_p(h, bold) for h in header]]
    style = list(grid)
    for field in data["fields"]:
        style.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)),
                      colors.HexColor("#eef3e6")))
        rows.append([_p(field["code"], bold), _p(field["title"], bold),
                     _p(display(field["applicable_max"]), bold), "", "", "",
                     _p(f"{display(field['points'])} ({display(field['percent'])}%)", bold)])
        for row in field["rows"]:
            indent = "  " * (row["depth"] - 1)
            if "source" not in row:  # a criterion with children
                rows.append([_p(row["code"], base), _p(indent + row["title"], base),
                             _p(display(row["applicable_max"]), base), "", "", "",
                             _p(display(row["points"]), base)])
                continue
            final = display(row["final_points"])
            if row.get("not_applicable") and row["source"] in ("self", "none"):
                final += " (KAD)"
            elif row["source"] not in ("appraisal_round_1", "appraisal_round_2"):
                final += f" ({SOURCES.get(row['source'], row['source'])})"
            rows.append([_p(row["code"], base), _p(indent + row["title"], base),
                         _p(display(row["applicable_max"]), base),
                         _p(_self(row), base), _p(_round(row, 1), base),
                         _p(_round(row, 2), base), _p(final, base)])
            notes = _item_notes(row)
            if notes:
                style += [("SPAN", (1, len(rows)), (-1, len(rows))),
                          ("BACKGROUND", (0, len(rows)), (-1, len(rows)),
                           colors.HexColor("#fbfbf3"))]
                rows.append(["", _p("\n".join(notes), small), "", "", "", "", ""])
    return Table(rows, colWidths=[13 * mm, 80 * mm, 14 * mm, 16 * mm, 15 * mm, 15 * mm,
                                  27 * mm], style=style, repeatRows=1)


def _self(row: dict[str, Any]) -> str:
    if row["source"] == "survey":
        return "—"
    if row.get("not_applicable"):
        return "KAD"
    return display(row["self_points"]) if row.get("self_points") is not None else "chưa chấm"


def _round(row: dict[str, Any], number: int) -> str:
    points = row.get(f"round{number}")
    if points is None:
        return "—"
    decision = row.get(f"round{number}_decision")
    return display(points) + (" *" if decision == "adjusted" else "")


def _item_notes(row: dict[str, Any]) -> list[str]:
    notes = []
    for change in row.get("adjustments", ()):
        line = (f"{STAGES.get(change['kind'], change['kind'])}: {display(change['old'])} → "
                f"{display(change['new'])} — lý do: {change['reason'] or '(không ghi)'}")
        if change.get("decision_ref"):
            line += f" ({change['decision_ref']})"
        line += f" [{change['actor_id']}, vị trí {change['position']}]"
        notes.append(line)
    if row.get("explanation"):
        notes.insert(1 if notes else 0, f"Giải trình của đơn vị: {row['explanation']}")
    if row.get("corrected_points") is not None and not any(
            c["kind"] == "correction" for c in row.get("adjustments", ())):
        notes.append(f"Hiệu chỉnh sau công bố: {display(row['corrected_points'])} điểm")
    return notes


def _verification(data: dict[str, Any], base: Any, small: Any, grid: list[Any]) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import Table

    position = data.get("as_of_position")
    checkpoint = data.get("checkpoint")
    if checkpoint:
        signed_text = (f"Điểm kiểm tra có chữ ký bao gồm vị trí này: {checkpoint}")
    else:
        signed_text = ("Điểm kiểm tra có chữ ký (signed checkpoint): chưa gắn vào báo cáo này. "
                       "Báo cáo chỉ mang vị trí toàn cục và mã băm SHA-256 nêu trên.")
    rows = [
        ["Vị trí toàn cục (global position)", str(position)],
        ["SHA-256 của dữ liệu báo cáo", data["digest"]],
        ["Bản", "nội bộ (đầy đủ lý do điều chỉnh)" if data["edition"] == "internal"
         else "công khai"],
        ["Mã phiếu điểm", data["scorecard_id"]],
        ["Cách kiểm tra", f"Dựng lại dữ liệu tại vị trí {position}: `parindex report "
                          f"--scorecard {data['scorecard_id']} --as-of-position {position} "
                          f"--digest` (hoặc GET /api/v1/scorecards/{data['scorecard_id']}/"
                          f"report?as_of_position={position}, header X-Report-SHA256) phải "
                          "cho cùng mã SHA-256. Mã băm lấy trên JSON chuẩn hóa của dữ liệu "
                          "(khóa sắp xếp, UTF-8, NFC), không gồm vị trí."],
        ["Chữ ký số", signed_text],
    ]
    return Table([[_p(k, small), _p(v, small)] for k, v in rows],
                 colWidths=[45 * mm, 135 * mm], style=grid[:4])


def _signatures(data: dict[str, Any], base: Any, centre: Any, centre_bold: Any) -> list[Any]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer, Table

    province = nfc(data["province"])
    block = Table(
        [[_p("XÁC NHẬN CỦA ĐƠN VỊ", centre_bold),
          _p(f"{province}, ngày ..... tháng ..... năm .......", centre)],
         [_p(f"THỦ TRƯỞNG {data['unit']['name'].upper()}", centre_bold),
          _p("TM. HỘI ĐỒNG THẨM ĐỊNH / SỞ NỘI VỤ", centre_bold)],
         [_p("(Ký, ghi rõ họ tên, đóng dấu)", centre),
          _p("(Ký, ghi rõ họ tên, đóng dấu)", centre)],
         [Spacer(1, 22 * mm), Spacer(1, 22 * mm)]],
        colWidths=[90 * mm, 90 * mm], style=[("VALIGN", (0, 0), (-1, -1), "TOP")])
    return [block]
