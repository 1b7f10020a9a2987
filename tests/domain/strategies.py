"""Hypothesis strategies: random valid framework documents and item inputs within bounds.

A framework has 1–3 fields; each field 1–3 criteria; each criterion is either an item itself or
has 1–3 sub-criteria. Item maxima are Decimals at two decimals; a quarter of the items are
survey-fed; appraised items may be not-applicable-capable under either rule.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from functools import cache
from typing import Any

from hypothesis import strategies as st

from domain.framework.structure import FrameworkTree, parse_framework
from domain.points import CENT
from domain.scoring import ItemInput

NA_CHOICES = (None, "credit_max", "drop_from_denominator")


def cents(amount: int) -> Decimal:
    """An integer number of cents as a two-decimal Decimal (150 → 1.50)."""
    return Decimal(amount).scaleb(-2)


@cache
def points_up_to(maximum: Decimal, minimum: int = 0) -> st.SearchStrategy[Decimal]:
    # Cached: building (and validating) a fresh strategy for every draw dominates run time.
    return st.integers(minimum, int(maximum * 100)).map(cents)


ITEM_MAXIMA = points_up_to(Decimal("15"), minimum=1)
SURVEY_ODDS = st.integers(0, 3)
INSTRUMENTS = st.sampled_from(["SIPAS", "KSCB"])
APPRAISED_KINDS = st.sampled_from(["boolean", "judgement", "proportional", "count", "deduction",
                                   "levels", "tiered"])
NA_RULES = st.sampled_from(NA_CHOICES)
ONE_TO_THREE = st.integers(1, 3)
INPUT_CHOICES = {False: st.sampled_from(["missing", "empty", "points"]),
                 True: st.sampled_from(["missing", "empty", "points", "not_applicable"])}


def appraised_method(kind: str, maximum: Decimal) -> dict[str, Any]:
    half = (maximum / 2).quantize(CENT, rounding=ROUND_DOWN)
    return {
        "boolean": {"kind": "boolean"},
        "judgement": {"kind": "judgement"},
        "proportional": {"kind": "proportional", "full_at": "0.5"},
        "count": {"kind": "count", "points_per_unit": "0.25"},
        "deduction": {"kind": "deduction", "points_per_violation": "0.25"},
        "levels": {"kind": "levels", "levels": [
            {"code": "tot", "title": "Tốt", "share": "1"},
            {"code": "dat", "title": "Đạt", "share": "0.5"}]},
        "tiered": {"kind": "tiered", "basis": "ratio", "bands": [
            {"from": "90", "points": str(maximum)}, {"from": "50", "points": str(half)}]},
    }[kind]


ITEM_SHAPES = st.tuples(ITEM_MAXIMA, SURVEY_ODDS, INSTRUMENTS, APPRAISED_KINDS, NA_RULES)


def item(draw: st.DrawFn, code: str) -> dict[str, Any]:
    maximum, survey_odds, instrument, kind, rule = draw(ITEM_SHAPES)
    node: dict[str, Any] = {"code": code, "title": f"Tiêu chí {code}", "max_points": str(maximum)}
    if survey_odds == 0:
        node["method"] = {"kind": "survey", "instrument": instrument}
        return node
    node["method"] = appraised_method(kind, maximum)
    if rule is not None:
        node["not_applicable"] = rule
    return node


def total(children: list[dict[str, Any]]) -> str:
    return str(sum((Decimal(child["max_points"]) for child in children), Decimal(0)))


@st.composite
def framework_documents(draw: st.DrawFn) -> dict[str, Any]:
    fields = []
    for i in range(1, draw(ONE_TO_THREE) + 1):
        criteria = []
        for j in range(1, draw(ONE_TO_THREE) + 1):
            code = f"{i}.{j}"
            if draw(st.booleans()):
                subs = [item(draw, f"{code}.{k}") for k in range(1, draw(ONE_TO_THREE) + 1)]
                criteria.append({"code": code, "title": f"Tiêu chí {code}",
                                 "max_points": total(subs), "children": subs})
            else:
                criteria.append(item(draw, code))
        fields.append({"code": str(i), "title": f"Lĩnh vực {i}", "max_points": total(criteria),
                       "children": criteria})
    return {"code": "RND-2025", "title": "Khung ngẫu nhiên", "year": 2025, "unit_group": "SO",
            "bonus_cap": str(draw(points_up_to(Decimal("5")))),
            "penalty_cap": str(draw(points_up_to(Decimal("5")))),
            "fields": fields}


def trees() -> st.SearchStrategy[FrameworkTree]:
    return framework_documents().map(parse_framework)


def leaves(document: dict[str, Any]) -> list[dict[str, Any]]:
    found, stack = [], list(document["fields"])
    while stack:
        node = stack.pop()
        if "method" in node:
            found.append(node)
        stack.extend(node.get("children", []))
    return sorted(found, key=lambda node: node["code"])


@st.composite
def trees_with_rule(draw: st.DrawFn, rule: str) -> tuple[FrameworkTree, str]:
    """A tree in which one drawn item is appraised and allows not applicable under `rule`;
    returns the tree and that item's code (other items stay as drawn)."""
    document = draw(framework_documents())
    chosen = draw(st.sampled_from(leaves(document)))
    if chosen["method"]["kind"] == "survey":
        chosen["method"] = {"kind": "judgement"}
    chosen["not_applicable"] = rule
    return parse_framework(document), chosen["code"]


@st.composite
def item_inputs(draw: st.DrawFn, tree: FrameworkTree, *, allow_drop: bool = True,
                ) -> dict[str, ItemInput]:
    """Inputs for some items (the rest are left out, i.e. unscored): points in [0, max], or
    not applicable where the item allows it."""
    given: dict[str, ItemInput] = {}
    for node in tree.items():
        may_be_na = node.not_applicable == "credit_max" or (
            node.not_applicable == "drop_from_denominator" and allow_drop)
        choice = draw(INPUT_CHOICES[may_be_na])
        if choice == "empty":
            given[node.code] = ItemInput()
        elif choice == "points":
            given[node.code] = ItemInput(points=draw(points_up_to(node.max_points)))
        elif choice == "not_applicable":
            given[node.code] = ItemInput(not_applicable=True)
    return given


def bonus_or_penalty() -> st.SearchStrategy[Decimal]:
    return points_up_to(Decimal("10"))
