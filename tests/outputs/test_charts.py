"""The charts of the demo cycle: valid PNGs of a sensible size, SVGs whose Vietnamese names are
text (NFC), group averages only for readers who may see the group's results."""

from __future__ import annotations

import re
import struct
import unicodedata
from html import unescape


def svg_texts(body: bytes) -> str:
    text = body.decode("utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    texts = " ".join(unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", text))
    assert unicodedata.is_normalized("NFC", texts)
    return texts


def png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR"
    width, height = struct.unpack(">II", body[16:24])
    return width, height


def test_the_ranking_chart_names_every_unit_with_its_class_band_and_the_average(demo):
    path = f"/cycles/{demo.cycle}/groups/SO/charts/ranking"
    svg = demo.get(path, format="svg")
    assert svg.status_code == 200, svg.text
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["content-disposition"].endswith(".svg")
    texts = svg_texts(svg.content)
    ranking = demo.get(f"/cycles/{demo.cycle}/groups/SO/ranking").json()
    for row in ranking["rows"]:
        assert row["unit_name"] in texts
    for label in ("Xuất sắc", "Tốt", "Khá", "Trung bình khối", "Khánh Hòa", "3. Sở Tài chính",
                  "Thanh tra tỉnh (không xếp hạng)"):
        assert label in texts
    assert "font-family: 'DejaVu Sans'" in svg.text
    png = demo.get(path)  # PNG by default
    assert png.headers["content-type"] == "image/png"
    width, height = png_size(png.content)
    assert 900 <= width <= 2000 and 600 <= height <= 3000
    public = svg_texts(demo.get(path, "integrator", format="svg").content)
    assert "Sở Tài chính" in public and "Thanh tra tỉnh" not in public


def test_a_units_field_profile_sets_each_field_against_the_group_average(demo):
    card = demo.card("STC")
    texts = svg_texts(demo.get(f"/scorecards/{card}/charts/fields", format="svg").content)
    view = demo.get(f"/scorecards/{card}").json()
    assert "Sở Tài chính — điểm theo lĩnh vực năm 2025" in texts
    assert "Trung bình khối" in texts
    for field in view["fields"]:
        assert f"{field['percent']}%" in texts
    png = demo.get(f"/scorecards/{card}/charts/fields", "integrator")
    assert png.status_code == 200
    assert min(png_size(png.content)) >= 500
    # Before publication the unit sees its own profile, not its group's average.
    draft = demo.get(f"/scorecards/{demo.draft_cards['STC']}/charts/fields", "stc",
                     format="svg")
    assert draft.status_code == 200
    assert "Trung bình khối" not in svg_texts(draft.content)
    assert demo.get(f"/scorecards/{demo.draft_cards['STC']}/charts/fields",
                    "integrator").status_code == 403


def test_a_units_timeline_runs_through_the_rounds_of_both_years(demo):
    card = demo.card("STC")
    response = demo.get(f"/scorecards/{card}/charts/timeline", format="svg")
    texts = svg_texts(response.content)
    for text in ("Sở Tài chính (STC)", "2024", "2025", "Tự đánh giá", "Thẩm định vòng 1",
                 "Cuối cùng", "77.37", "89.11"):
        assert text in texts
    # the 2025 stages: self-assessed 64.10, round 1 59.10, final 64.10
    assert "59.10" in texts and "64.10" in texts
    # A unit that only existed in 2025 has one year.
    new_unit = svg_texts(demo.get(f"/scorecards/{demo.card('SDTTG')}/charts/timeline",
                                  format="svg").content)
    assert "2025" in new_unit and "2024" not in new_unit
    assert min(png_size(demo.get(f"/scorecards/{card}/charts/timeline").content)) >= 500
    assert demo.get(f"/scorecards/{demo.card('TTT')}/charts/timeline",
                    "integrator").status_code == 403


def test_a_chart_as_of_a_position_says_which(demo):
    correction = demo.get("/audit", kind="correction").json()["rows"][0]
    before = correction["position"] - 1
    response = demo.get(f"/cycles/{demo.cycle}/groups/XA/charts/ranking", format="svg",
                        as_of_position=before)
    assert response.headers["x-as-of-position"] == str(before)
    assert f"vị trí {before}" in svg_texts(response.content)
