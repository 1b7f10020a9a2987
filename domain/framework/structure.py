"""The framework tree: parsing and validating a framework document.

A document is plain JSON-like data (it is what the `FrameworkDrafted` event stores):

    {"code": "SO-2025", "title": "...", "year": 2025, "unit_group": "SO",
     "bonus_cap": "2", "penalty_cap": "2",
     "fields": [{"code": "1", "title": "...", "max_points": "10", "children": [
         {"code": "1.1", "title": "...", "max_points": "3", "children": [
             {"code": "1.1.1", "title": "...", "max_points": "1",
              "method": {"kind": "boolean"}, "not_applicable": "credit_max",
              "evidence": "Kế hoạch CCHC năm", "rubric": "..."}]}]}]}

Depth 1 is a field (lĩnh vực), 2 a criterion (tiêu chí), 3 a sub-criterion (tiêu chí thành phần).
Fields always have children; a criterion without children is itself a scored item. Every parent's
maximum equals the sum of its children's, and codes are unique across the whole tree.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.errors import InvalidFramework, InvalidInput
from domain.framework.methods import Method, parse_method
from domain.points import ZERO, parse_points

LEVEL_NAMES = ("field", "criterion", "subcriterion")
NA_RULES = ("credit_max", "drop_from_denominator")


def nfc(text: object, *, field: str, item: str | None = None, required: bool = True) -> str:
    """Vietnamese text is stored in NFC, stripped; a required text may not be empty."""
    if text is None and not required:
        return ""
    if not isinstance(text, str):
        raise InvalidInput(f"{field} must be text", field=field, item=item)
    normalised = unicodedata.normalize("NFC", text).strip()
    if required and not normalised:
        raise InvalidInput(f"{field} is empty", field=field, item=item)
    return normalised


@dataclass(frozen=True)
class Node:
    """A field, criterion or sub-criterion. Leaves carry a method and are scored."""

    code: str
    title: str
    level: str
    max_points: Decimal
    parent: str | None
    children: tuple[str, ...]
    method: Method | None
    not_applicable: str | None
    evidence: str
    rubric: str

    @property
    def is_item(self) -> bool:
        return self.method is not None

    @property
    def survey_fed(self) -> bool:
        return self.method is not None and self.method.survey_fed


@dataclass(frozen=True)
class FrameworkTree:
    code: str
    title: str
    year: int
    unit_group: str
    bonus_cap: Decimal
    penalty_cap: Decimal
    nodes: dict[str, Node]
    field_codes: tuple[str, ...]

    def items(self) -> Iterator[Node]:
        return (node for node in self.nodes.values() if node.is_item)

    def item(self, code: str) -> Node:
        node = self.nodes.get(code)
        if node is None or not node.is_item:
            raise InvalidInput(f"{code!r} is not a scored item of framework {self.code}",
                               item=code, field="item_code")
        return node

    def field_of(self, code: str) -> str:
        node = self.nodes[code]
        while node.parent is not None:
            node = self.nodes[node.parent]
        return node.code

    @property
    def total_max(self) -> Decimal:
        return sum((self.nodes[c].max_points for c in self.field_codes), ZERO)

    @property
    def survey_max(self) -> Decimal:
        return sum((n.max_points for n in self.items() if n.survey_fed), ZERO)


def _integer(document: dict[str, Any], key: str) -> int:
    value = document.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidFramework(f"{key} must be a whole number", field=key)
    return value


def _cap(document: dict[str, Any], key: str) -> Decimal:
    try:
        return parse_points(document.get(key, "0"), field=key)
    except InvalidInput as error:
        raise InvalidFramework(error.message, field=key) from None


def parse_framework(document: object) -> FrameworkTree:
    """Validate a framework document; raise InvalidFramework naming the first fault."""
    if not isinstance(document, dict):
        raise InvalidFramework("a framework document must be an object", field="framework")
    code = nfc(document.get("code"), field="code")
    year = _integer(document, "year")
    if not 2000 <= year <= 2100:
        raise InvalidFramework(f"year {year} is outside 2000..2100", field="year")
    nodes: dict[str, Node] = {}
    fields = document.get("fields")
    if not isinstance(fields, list) or not fields:
        raise InvalidFramework("a framework needs at least one field", field="fields")
    field_codes = tuple(_parse_node(raw, 0, None, nodes) for raw in fields)
    tree = FrameworkTree(
        code=code,
        title=nfc(document.get("title"), field="title"),
        year=year,
        unit_group=nfc(document.get("unit_group"), field="unit_group"),
        bonus_cap=_cap(document, "bonus_cap"),
        penalty_cap=_cap(document, "penalty_cap"),
        nodes=nodes,
        field_codes=field_codes,
    )
    if tree.total_max <= 0:
        raise InvalidFramework("the framework's maximum must be > 0", field="fields")
    return tree


def _parse_node(raw: object, depth: int, parent: str | None, nodes: dict[str, Node]) -> str:
    if not isinstance(raw, dict):
        raise InvalidFramework("each field, criterion and sub-criterion must be an object",
                               item=parent, field="children")
    code = nfc(raw.get("code"), field="code", item=parent)
    if code in nodes:
        raise InvalidFramework(f"code {code} is used twice", item=code, field="code")
    level = LEVEL_NAMES[depth]
    try:
        max_points = parse_points(raw.get("max_points"), field="max_points", item=code)
    except InvalidInput as error:
        raise InvalidFramework(error.message, item=code, field="max_points") from None
    if max_points <= 0:
        raise InvalidFramework("max_points must be > 0", item=code, field="max_points")
    raw_children = raw.get("children") or []
    has_method = "method" in raw
    if not isinstance(raw_children, list):
        raise InvalidFramework("children must be a list", item=code, field="children")
    if raw_children and has_method:
        raise InvalidFramework("a node has either children or a scoring method, not both",
                               item=code, field="method")
    if not raw_children and not has_method:
        raise InvalidFramework(f"{level} {code} has neither children nor a scoring method",
                               item=code, field="method")
    if depth == 0 and has_method:
        raise InvalidFramework("a field groups criteria; it cannot be scored itself", item=code,
                               field="method")
    if raw_children and depth == len(LEVEL_NAMES) - 1:
        raise InvalidFramework("sub-criteria are the deepest level", item=code, field="children")
    not_applicable = raw.get("not_applicable")
    if not_applicable is not None and not_applicable not in NA_RULES:
        raise InvalidFramework(f"not_applicable must be one of {NA_RULES} or absent", item=code,
                               field="not_applicable")
    method = parse_method(raw["method"], max_points, code) if has_method else None
    if method is not None and method.survey_fed and not_applicable is not None:
        raise InvalidFramework("a survey-fed item cannot be declared not applicable", item=code,
                               field="not_applicable")
    # Reserve the code before the children so a child reusing it is caught.
    nodes[code] = None  # type: ignore[assignment]
    children = tuple(_parse_node(child, depth + 1, code, nodes) for child in raw_children)
    if children:
        total = sum((nodes[c].max_points for c in children), ZERO)
        if total != max_points:
            raise InvalidFramework(f"children of {code} sum to {total}, not its maximum "
                                   f"{max_points}", item=code, field="max_points")
    nodes[code] = Node(
        code=code, title=nfc(raw.get("title"), field="title", item=code), level=level,
        max_points=max_points, parent=parent, children=children, method=method,
        not_applicable=not_applicable,
        evidence=nfc(raw.get("evidence"), field="evidence", item=code, required=False),
        rubric=nfc(raw.get("rubric"), field="rubric", item=code, required=False),
    )
    return code


def framework_document(tree: FrameworkTree) -> dict[str, Any]:
    """The canonical (normalised) document of a parsed tree: what the event stores."""

    def node_document(code: str) -> dict[str, Any]:
        node = tree.nodes[code]
        out: dict[str, Any] = {"code": node.code, "title": node.title,
                               "max_points": str(node.max_points)}
        if node.children:
            out["children"] = [node_document(child) for child in node.children]
        else:
            assert node.method is not None
            out["method"] = node.method.document()
            if node.not_applicable:
                out["not_applicable"] = node.not_applicable
        if node.evidence:
            out["evidence"] = node.evidence
        if node.rubric:
            out["rubric"] = node.rubric
        return out

    return {"code": tree.code, "title": tree.title, "year": tree.year,
            "unit_group": tree.unit_group, "bonus_cap": str(tree.bonus_cap),
            "penalty_cap": str(tree.penalty_cap),
            "fields": [node_document(code) for code in tree.field_codes]}
