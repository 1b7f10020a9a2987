"""Ranking one group of one cycle (PAR-INDEX.md §3, decisions 9(e) and 9(f)).

Pure functions over `Decimal`: no store, no I/O. Units are ranked on their UNROUNDED totals,
descending; equal totals share a rank (competition 1, 2, 2, 4 by default, dense 1, 2, 2, 3 as a
per-cycle setting), and ties are listed by unit code so the listing is stable. Units evaluated but
not ranked (§3.3) are listed after the ranked ones, without a rank, and take no part in the group's
statistics (average, minimum, maximum, gap, class counts). The two-decimal total is for display
only and never decides anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import TypeVar

from domain.cycle.phases import RankingRule, classify
from domain.points import round_points

# Wide enough that sums and products of recorded totals are exact, so "strictly above the
# average" is decided without rounding (total × n > sum instead of total > sum / n).
_EXACT_PRECISION = 80

T = TypeVar("T")


@dataclass(frozen=True)
class Standing:
    """One unit's result in one group of one cycle."""

    unit_code: str
    unit_name: str
    ranked: bool  # False = evaluated only: listed without a rank, excluded from stats
    total: Decimal  # unrounded
    appraised_part: Decimal
    survey_part: Decimal
    bonus: Decimal
    penalty: Decimal


@dataclass(frozen=True)
class PreviousResult:
    """The same unit in the previous cycle of the same province (same group code)."""

    total: Decimal
    rank: int | None
    classification: str


@dataclass(frozen=True)
class RankedRow:
    rank: int | None
    unit_code: str
    unit_name: str
    ranked: bool
    total: Decimal
    total_display: str  # "88.81": two decimals half-up, display only
    appraised_part: Decimal
    survey_part: Decimal
    bonus: Decimal
    penalty: Decimal
    classification: str
    above_average: bool | None  # None for evaluated-only units
    previous_total: Decimal | None
    total_delta: Decimal | None
    previous_rank: int | None
    rank_delta: int | None  # positive = moved up (previous_rank - rank)
    previous_classification: str | None
    classification_changed: bool | None


@dataclass(frozen=True)
class GroupRanking:
    rule: RankingRule
    rows: list[RankedRow]  # ranked by rank then unit_code; evaluated-only after, by total desc
    ranked_count: int
    average: Decimal | None  # mean of ranked totals, unrounded; None when no unit is ranked
    above_average: int  # ranked units strictly above the average
    minimum: Decimal | None
    maximum: Decimal | None
    gap: Decimal | None  # top - bottom
    class_counts: dict[str, int]  # every label of the scheme, zeros included; ranked units only
    previous_class_counts: dict[str, int] | None  # same over the previous cycle's ranked units


def display_total(total: Decimal) -> str:
    """Two decimals, half-up, for display only: 88.805 → "88.81", 88.8049 → "88.80"."""
    shown = round_points(total)
    if shown == 0:
        shown = abs(shown)  # never "-0.00"
    return format(shown, "f")


def assign_ranks(totals: Mapping[str, Decimal], rule: RankingRule) -> dict[str, int]:
    """Rank of each unit code by total, descending, on the unrounded values.

    COMPETITION: 1 + the number of units with a strictly higher total (1, 2, 2, 4).
    DENSE: 1 + the number of distinct strictly higher totals (1, 2, 2, 3).
    """
    ordered = _by_total_desc(totals.items(), total=lambda entry: entry[1],
                             code=lambda entry: entry[0])
    ranks: dict[str, int] = {}
    previous_total: Decimal | None = None
    rank = 0
    distinct = 0
    for position, (code, total) in enumerate(ordered, start=1):
        if previous_total is None or total != previous_total:
            distinct += 1
            rank = position if rule is RankingRule.COMPETITION else distinct
            previous_total = total
        ranks[code] = rank
    return ranks


def _by_total_desc(items: Iterable[T], *, total: Callable[[T], Decimal],
                      code: Callable[[T], str]) -> list[T]:
    """Total descending, then unit code ascending. Two stable sorts rather than a key of
    `-total`: negating a Decimal rounds to the context precision."""
    return sorted(sorted(items, key=code), key=total, reverse=True)


def count_classes(labels: Iterable[str], classification: list[dict[str, str]]) -> dict[str, int]:
    """Units per label, in the scheme's order with zeros; a label outside the scheme (a
    previous cycle's scheme may have differed) is appended rather than dropped."""
    counts = {str(band["label"]): 0 for band in classification}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return counts


def _check(standings: list[Standing]) -> None:
    seen: set[str] = set()
    for standing in standings:
        if standing.unit_code in seen:
            raise ValueError(f"unit {standing.unit_code!r} appears twice in one group")
        seen.add(standing.unit_code)
        if not isinstance(standing.total, Decimal) or not standing.total.is_finite():
            raise ValueError(f"unit {standing.unit_code!r}: total must be a finite Decimal")


def rank_group(standings: Iterable[Standing], rule: RankingRule,
               classification: list[dict[str, str]],
               previous: Mapping[str, PreviousResult] | None = None,
               previous_classification: list[dict[str, str]] | None = None) -> GroupRanking:
    """Rank one group: rows, group statistics and, when `previous` is given, year-on-year
    changes (PAR-INDEX.md §3.5). `previous_classification` defaults to `classification`."""
    units = list(standings)
    _check(units)
    ranked_units = [unit for unit in units if unit.ranked]
    unranked_units = [unit for unit in units if not unit.ranked]
    ranks = assign_ranks({unit.unit_code: unit.total for unit in ranked_units}, rule)

    count = len(ranked_units)
    with localcontext() as exact:
        exact.prec = _EXACT_PRECISION
        total_sum = sum((unit.total for unit in ranked_units), Decimal(0))
        above = {unit.unit_code: unit.total * count > total_sum for unit in ranked_units}
    average = total_sum / count if count else None
    totals = [unit.total for unit in ranked_units]
    minimum = min(totals) if totals else None
    maximum = max(totals) if totals else None
    gap = maximum - minimum if maximum is not None and minimum is not None else None

    def row(unit: Standing) -> RankedRow:
        rank = ranks.get(unit.unit_code) if unit.ranked else None
        label = classify(classification, unit.total)
        before = previous.get(unit.unit_code) if previous is not None else None
        return RankedRow(
            rank=rank, unit_code=unit.unit_code, unit_name=unit.unit_name, ranked=unit.ranked,
            total=unit.total, total_display=display_total(unit.total),
            appraised_part=unit.appraised_part, survey_part=unit.survey_part,
            bonus=unit.bonus, penalty=unit.penalty, classification=label,
            above_average=above[unit.unit_code] if unit.ranked else None,
            previous_total=before.total if before else None,
            total_delta=unit.total - before.total if before else None,
            previous_rank=before.rank if before else None,
            rank_delta=(before.rank - rank
                        if before and before.rank is not None and rank is not None else None),
            previous_classification=before.classification if before else None,
            classification_changed=(label != before.classification) if before else None,
        )

    ranked_rows = sorted((row(unit) for unit in ranked_units),
                         key=lambda r: (r.rank, r.unit_code))
    unranked_rows = _by_total_desc((row(unit) for unit in unranked_units),
                                   total=lambda r: r.total, code=lambda r: r.unit_code)

    previous_counts = None
    if previous is not None:
        previous_counts = count_classes(
            (result.classification for result in previous.values() if result.rank is not None),
            previous_classification if previous_classification is not None else classification)

    return GroupRanking(
        rule=rule,
        rows=ranked_rows + unranked_rows,
        ranked_count=count,
        average=average,
        above_average=sum(1 for flag in above.values() if flag),
        minimum=minimum,
        maximum=maximum,
        gap=gap,
        class_counts=count_classes((r.classification for r in ranked_rows), classification),
        previous_class_counts=previous_counts,
    )
