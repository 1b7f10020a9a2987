"""The scoring engine: pure functions from a framework and item points to every total.

Rules (PAR-INDEX.md §2.3, §2.4, §8.1):
- an item's points are in [0, max] at two decimals; an unscored item counts 0;
- "not applicable" credits the maximum, or (rule `drop_from_denominator`) removes the item's
  maximum from its criterion, field and the appraised denominator; the appraised part is then
  rescaled to its full maximum so units stay comparable on one 100-point scale;
- criterion, field and total are sums; the appraised part (self-assessed and appraised items) and
  the survey part (survey-fed items) are reported apart;
- bonus and penalty apply after the base sum, each capped by the framework;
- nothing is rounded except for display (`percent_of`): rankings compare unrounded totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from domain.framework.structure import FrameworkTree
from domain.points import ZERO, percent_of


@dataclass(frozen=True)
class ItemInput:
    """What the engine needs of one item: its final points, or that it is not applicable."""

    points: Decimal | None = None
    not_applicable: bool = False


@dataclass(frozen=True)
class NodeScore:
    code: str
    points: Decimal
    max_points: Decimal
    applicable_max: Decimal

    @property
    def percent(self) -> Decimal:
        return percent_of(self.points, self.applicable_max)


@dataclass(frozen=True)
class ScoreSheet:
    nodes: dict[str, NodeScore]
    appraised_points: Decimal
    appraised_max: Decimal
    appraised_applicable_max: Decimal
    survey_part: Decimal
    survey_max: Decimal
    bonus: Decimal
    penalty: Decimal

    @property
    def appraised_part(self) -> Decimal:
        """Appraised points on the full appraised scale (rescaled when items were dropped)."""
        if self.appraised_applicable_max == self.appraised_max:
            return self.appraised_points
        if self.appraised_applicable_max == 0:
            return ZERO
        return self.appraised_points * self.appraised_max / self.appraised_applicable_max

    @property
    def base_total(self) -> Decimal:
        return self.appraised_part + self.survey_part

    @property
    def total(self) -> Decimal:
        return max(ZERO, self.base_total + self.bonus - self.penalty)


def item_points(tree: FrameworkTree, code: str, given: ItemInput) -> tuple[Decimal, Decimal]:
    """(points, counted maximum) of one item after not-applicable handling."""
    node = tree.nodes[code]
    if given.not_applicable:
        if node.not_applicable == "drop_from_denominator":
            return ZERO, ZERO
        return node.max_points, node.max_points
    points = given.points if given.points is not None else ZERO
    if not ZERO <= points <= node.max_points:
        raise ValueError(f"item {code}: {points} outside [0, {node.max_points}]")
    return points, node.max_points


def score(tree: FrameworkTree, items: Mapping[str, ItemInput], bonus: Decimal = ZERO,
          penalty: Decimal = ZERO) -> ScoreSheet:
    """Every node's points and the unit's totals from item inputs and bonus/penalty sums."""
    nodes: dict[str, NodeScore] = {}
    appraised = appraised_applicable = survey = ZERO

    def visit(code: str) -> tuple[Decimal, Decimal]:
        nonlocal appraised, appraised_applicable, survey
        node = tree.nodes[code]
        if node.is_item:
            points, counted = item_points(tree, code, items.get(code, ItemInput()))
            if node.survey_fed:
                survey += points
            else:
                appraised += points
                appraised_applicable += counted
        else:
            points = counted = ZERO
            for child in node.children:
                child_points, child_counted = visit(child)
                points += child_points
                counted += child_counted
        nodes[code] = NodeScore(code, points, node.max_points, counted)
        return points, counted

    for field_code in tree.field_codes:
        visit(field_code)
    survey_max = tree.survey_max
    return ScoreSheet(
        nodes=nodes,
        appraised_points=appraised,
        appraised_max=tree.total_max - survey_max,
        appraised_applicable_max=appraised_applicable,
        survey_part=survey,
        survey_max=survey_max,
        bonus=min(bonus, tree.bonus_cap),
        penalty=min(penalty, tree.penalty_cap),
    )
