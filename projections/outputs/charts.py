"""Charts (PNG or SVG) of a group's ranking, a unit's field profile and a unit's years.

Drawn with matplotlib's object API (no pyplot, no global figure state) in DejaVu Sans, the font
matplotlib ships, registered from its file so Vietnamese diacritics render. SVG keeps text as
text (`svg.fonttype: none`, font-family "DejaVu Sans", a sans-serif fallback in viewers without
it), so the names stay searchable and selectable. Output is byte-for-byte reproducible.
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from projections.outputs.common import display, font_dir, font_file, nfc

PNG_MEDIA_TYPE = "image/png"
SVG_MEDIA_TYPE = "image/svg+xml"
MEDIA_TYPES = {"png": PNG_MEDIA_TYPE, "svg": SVG_MEDIA_TYPE}
FAMILY = "DejaVu Sans"
DPI = 120

# Class colours from best to worst (schemes have up to 5 classes; more reuse the last).
CLASS_COLOURS = ("#1b7837", "#5aae61", "#f1a340", "#e66101", "#b2182b")
BAND_COLOURS = ("#d9f0d3", "#edf8e9", "#fee8c8", "#fdd0a2", "#fcbba1")
STAGE_LABELS = ("Tự đánh giá", "Thẩm định vòng 1", "Cuối cùng")

_lock = threading.Lock()  # rcParams are process-wide: one chart at a time
_registered = False


@contextmanager
def _style() -> Iterator[None]:
    global _registered
    import matplotlib
    from matplotlib import font_manager

    with _lock:
        if not _registered:
            for bold in (False, True):
                font_manager.fontManager.addfont(str(font_file(bold)))
            _registered = True
        with matplotlib.rc_context({
                "font.family": [FAMILY], "font.size": 9, "svg.fonttype": "none",
                "svg.hashsalt": "parindex", "axes.spines.top": False,
                "axes.spines.right": False, "axes.titlelocation": "left",
                "axes.titlesize": 11, "axes.titleweight": "bold"}):
            resolved = font_manager.findfont(font_manager.FontProperties(family=FAMILY),
                                             fallback_to_default=False)
            if not resolved.startswith(str(font_dir())):
                raise RuntimeError(f"{FAMILY} resolved to {resolved}, not matplotlib's own file")
            yield


def _save(figure: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": "parindex"}
    figure.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def _check(fmt: str) -> None:
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"chart format {fmt!r}: use png or svg")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _footer(figure: Any, text: str) -> None:
    """A small source line under the plot (laid out with it, never over the tick labels)."""
    figure.supxlabel(nfc(text), x=0.01, ha="left", fontsize=7, color="#555555")


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(nfc(text), width)) or nfc(text)


def _band_edges(scheme: list[dict[str, str]], top: float) -> list[tuple[str, float, float]]:
    """(label, from, to) of each class, best first."""
    ordered = sorted(scheme, key=lambda b: Decimal(b["min_total"]), reverse=True)
    edges, upper = [], top
    for band in ordered:
        lower = float(Decimal(band["min_total"]))
        edges.append((nfc(band["label"]), lower, upper))
        upper = lower
    return edges


# -- ranking ------------------------------------------------------------------------------------


def ranking_chart(ranking: dict[str, Any], scheme: list[dict[str, str]], fmt: str = "png",
                  *, note: str = "") -> bytes:
    """Bars of a group's totals, best on top, coloured by class, over the class bands, with the
    group average; evaluated-only units (if the reader sees them) hatched, without a rank."""
    _check(fmt)
    rows = sorted(ranking["rows"], key=lambda r: (r["rank"] is None, r["rank"] or 0,
                                                  r["unit_code"]))
    totals = [float(Decimal(r["total"])) for r in rows]
    top = max([100.0, *[t + 4 for t in totals]])
    bands = _band_edges(scheme, top)
    colour = {label: CLASS_COLOURS[min(i, len(CLASS_COLOURS) - 1)]
              for i, (label, _, _) in enumerate(bands)}
    with _style():
        figure = _figure(9.5, 1.6 + 0.3 * max(len(rows), 3))
        axes = figure.add_subplot()
        for i, (label, lower, upper) in enumerate(bands):
            axes.axvspan(lower, upper, color=BAND_COLOURS[min(i, len(BAND_COLOURS) - 1)],
                         zorder=0, lw=0)
            axes.text((lower + upper) / 2, -0.9, label, ha="center", va="bottom",
                      fontsize=8, color="#444444")
        positions = list(range(len(rows)))
        for y, row, total in zip(positions, rows, totals, strict=True):
            ranked = row["ranked"] and row["rank"] is not None
            axes.barh(y, total, height=0.7, zorder=2,
                      color=colour.get(nfc(row["classification"]), "#888888") if ranked
                      else "#bbbbbb", hatch=None if ranked else "//", edgecolor="white")
            axes.text(total + 0.4, y, display(row["total"]), va="center", fontsize=8, zorder=3)
        labels = [(f"{row['rank']}. " if row["rank"] is not None else "— ")
                  + nfc(row["unit_name"]) + ("" if row["ranked"] else " (không xếp hạng)")
                  for row in rows]
        axes.set_yticks(positions, labels)
        axes.set_ylim(len(rows) - 0.4, -1.9)
        axes.set_xlim(0, top)
        if ranking.get("average") is not None:
            average = float(Decimal(ranking["average"]))
            axes.axvline(average, color="#2166ac", ls="--", lw=1.2, zorder=4)
            axes.text(average, -1.35,
                      f"Trung bình khối {display(ranking['average'])} "
                      f"({ranking['above_average']}/{ranking['ranked_count']} đơn vị trên "
                      "trung bình) ", color="#2166ac", ha="right", va="bottom", fontsize=8)
        axes.set_xlabel("Tổng điểm (tối đa 100, gồm điểm thưởng/trừ)")
        axes.set_title(nfc(f"Chỉ số CCHC năm {ranking['year']} — {ranking['group_name']}"))
        _footer(figure, f"{ranking['province']} · xếp hạng trên điểm chưa làm tròn · vị trí "
                f"{ranking.get('as_of_position')}" + (f" · {note}" if note else ""))
        return _save(figure, fmt)


# -- a unit's field profile ---------------------------------------------------------------------


def field_profile_chart(scorecard: dict[str, Any], averages: dict[str, Decimal] | None,
                        fmt: str = "png", *, year: int | None = None,
                        group_name: str = "") -> bytes:
    """Each field's points as % of its applicable maximum, beside the group average (ranked
    units) when the reader may see it."""
    _check(fmt)
    fields = scorecard["fields"]
    with _style():
        figure = _figure(9.5, 1.8 + 0.55 * len(fields))
        axes = figure.add_subplot()
        positions = list(range(len(fields)))
        height = 0.38 if averages else 0.6
        unit_values = [_share(f) for f in fields]
        axes.barh([p - (height / 2 if averages else 0) for p in positions], unit_values,
                  height=height, color="#2166ac", label=nfc(scorecard["unit_name"]), zorder=2)
        for p, value, field in zip(positions, unit_values, fields, strict=True):
            axes.text(value + 0.5, p - (height / 2 if averages else 0),
                      f"{display(value)}% ({display(field['points'])}/"
                      f"{display(field['applicable_max'])})", va="center", fontsize=7)
        if averages:
            avg_values = [float(averages.get(f["code"], Decimal(0))) for f in fields]
            axes.barh([p + height / 2 for p in positions], avg_values, height=height,
                      color="#bdbdbd", label="Trung bình khối", zorder=2)
            for p, value in zip(positions, avg_values, strict=True):
                axes.text(value + 0.5, p + height / 2, f"{display(value)}%", va="center",
                          fontsize=7, color="#555555")
        axes.set_yticks(positions, [_wrap(f"{f['code']}. {f['title']}", 38) for f in fields])
        axes.invert_yaxis()
        axes.set_xlim(0, 118)
        axes.set_xticks([0, 20, 40, 60, 80, 100])
        axes.set_xlabel("% điểm tối đa của lĩnh vực")
        axes.legend(loc="lower right", fontsize=8, frameon=False)
        title = f"{scorecard['unit_name']} — điểm theo lĩnh vực"
        axes.set_title(nfc(title + (f" năm {year}" if year else "")))
        _footer(figure, (f"{group_name} · " if group_name else "")
                + ("trung bình khối trên các đơn vị được xếp hạng" if averages
                   else "trung bình khối: không có trong phạm vi được xem")
                + f" · vị trí {scorecard.get('as_of_position')}")
        return _save(figure, fmt)


def _share(field: dict[str, Any]) -> float:
    applicable = Decimal(field["applicable_max"])
    return 0.0 if applicable == 0 else float(Decimal(field["points"]) * 100 / applicable)


# -- a unit's years -----------------------------------------------------------------------------


def timeline_chart(timeline: dict[str, Any], fmt: str = "png") -> bytes:
    """Per year: the appraised part self-assessed → after round 1 → final, and the final
    total; years side by side."""
    _check(fmt)
    years = timeline["years"]
    with _style():
        figure = _figure(max(6.0, 2.6 * len(years) + 1.5), 5.2)
        axes = figure.add_subplot()
        ticks, labels, total_x, total_y = [], [], [], []
        for i, year in enumerate(years):
            stages = year["stages"]
            xs = [i * 4 + s for s in range(3)]
            ys = [float(Decimal(stages[k])) for k in ("self_assessed", "round_1", "final")]
            axes.plot(xs, ys, marker="o", color="#2166ac", zorder=3,
                      label="Phần thẩm định" if i == 0 else None)
            for x, y in zip(xs, ys, strict=True):
                axes.annotate(display(y), (x, y), textcoords="offset points", xytext=(0, -14),
                              ha="center", fontsize=8, color="#2166ac")
            total = float(Decimal(stages["total"]))
            total_x.append(xs[-1])
            total_y.append(total)
            axes.annotate(display(total), (xs[-1], total), textcoords="offset points",
                          xytext=(0, 7), ha="center", fontsize=8, color="#b2182b",
                          fontweight="bold")
            ticks += xs
            labels += [f"{STAGE_LABELS[0]}\n{year['year']}", STAGE_LABELS[1],
                       f"{STAGE_LABELS[2]}\n(tối đa {display(stages['appraised_max'])})"]
            axes.axvspan(i * 4 - 0.5, i * 4 + 2.5, color="#f3f3f3" if i % 2 else "#fafafa",
                         zorder=0, lw=0)
            axes.text(i * 4 + 1, 103, str(year["year"]), ha="center", fontsize=10,
                      fontweight="bold")
        axes.plot(total_x, total_y, marker="D", color="#b2182b", ls=":", zorder=4,
                  label="Tổng điểm (gồm điều tra, thưởng/trừ)")
        axes.set_xticks(ticks, [nfc(t) for t in labels], fontsize=7)
        axes.set_ylim(0, 110)
        axes.set_xlim(-0.7, max(len(years) * 4 - 1.3, 2.7))
        axes.set_ylabel("Điểm")
        axes.legend(loc="lower left", fontsize=8, frameon=False)
        axes.set_title(nfc(f"{timeline['unit_name']} ({timeline['unit_code']}) — điểm qua các "
                           f"vòng thẩm định và các năm"))
        _footer(figure, f"{timeline['province']} · vị trí {timeline.get('as_of_position')}")
        return _save(figure, fmt)
