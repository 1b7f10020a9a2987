"""National-scale frameworks: the demo's SO and XA frameworks, each item split into three.

The demo frameworks (domain/demo/frameworks/*.json) score 32 (SO) and 35 (XA) items. A real
provincial framework has about 100 sub-criteria, so every item is split into `PARTS` sub-criteria
of the same kind, whose maxima sum to the original item's (1 → 0.33 + 0.33 + 0.34); the point
constants of a method (tiered band points, points per unit, points per violation, floor) are
scaled with the part's share of the maximum and rounded to two decimals. A criterion that was an
item becomes a criterion with the parts as its sub-criteria; an item that was already a
sub-criterion is replaced by its parts as siblings (renumbered). Field maxima, the 100-point
total, the appraised/survey split and the caps stay those of the demo, and the tree is validated
by the domain's own parser. SO: 96 items (90 self-scored, 6 survey-fed); XA: 105 items (87
self-scored, 18 survey-fed).
"""

from __future__ import annotations

import copy
from decimal import ROUND_DOWN, Decimal
from typing import Any

from domain.demo.loader import framework_document
from domain.framework.structure import FrameworkTree, parse_framework
from domain.points import CENT, round_points

PARTS = 3


def _split(maximum: Decimal, parts: int) -> list[Decimal]:
    """`parts` two-decimal maxima summing exactly to `maximum` (the last takes the rest)."""
    share = (maximum / parts).quantize(CENT, rounding=ROUND_DOWN)
    return [share] * (parts - 1) + [maximum - share * (parts - 1)]


def _scaled_method(method: dict[str, Any], scale: Decimal, part: Decimal) -> dict[str, Any]:
    method = copy.deepcopy(method)
    kind = method["kind"]
    if kind == "tiered":
        for band in method["bands"]:
            band["points"] = str(min(part, round_points(Decimal(band["points"]) * scale)))
    elif kind == "count":
        method["points_per_unit"] = str(max(CENT, min(
            part, round_points(Decimal(method["points_per_unit"]) * scale))))
    elif kind == "deduction":
        method["points_per_violation"] = str(max(CENT, round_points(
            Decimal(method["points_per_violation"]) * scale)))
        if "floor" in method:
            method["floor"] = str(min(part, round_points(Decimal(method["floor"]) * scale)))
    return method


def _parts(item: dict[str, Any], codes: list[str]) -> list[dict[str, Any]]:
    """The item's sub-criteria, one per code."""
    maximum = Decimal(item["max_points"])
    out = []
    for index, (code, part) in enumerate(zip(codes, _split(maximum, len(codes)), strict=True),
                                         start=1):
        node = {key: value for key, value in item.items()
                if key not in ("code", "title", "max_points", "method")}
        node.update(code=code, title=f"{item['title']} — nội dung {index}/{len(codes)}",
                    max_points=str(part),
                    method=_scaled_method(item["method"], part / maximum, part))
        out.append(node)
    return out


def extended_document(group: str, year: int, parts: int = PARTS) -> dict[str, Any]:
    """The demo framework of `group` for `year`, every item split into `parts` sub-criteria."""
    document = framework_document(group, year)
    for field in document["fields"]:
        criteria = []
        for criterion in field["children"]:
            if "method" in criterion:  # a criterion scored itself: give it sub-criteria
                head = {key: value for key, value in criterion.items()
                        if key in ("code", "title", "max_points")}
                head["children"] = _parts(criterion, [f"{criterion['code']}.{i}"
                                                      for i in range(1, parts + 1)])
                criteria.append(head)
                continue
            children: list[dict[str, Any]] = []
            for item in criterion["children"]:
                first = len(children) + 1
                children += _parts(item, [f"{criterion['code']}.{i}"
                                          for i in range(first, first + parts)])
            criteria.append({**criterion, "children": children})
        field["children"] = criteria
    return document


def extended_tree(group: str, year: int) -> FrameworkTree:
    return parse_framework(extended_document(group, year))
