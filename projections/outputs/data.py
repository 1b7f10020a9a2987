"""What outputs read from the views: several groups, every field, several years, the stages of
an appraisal — each assembled from `ReadModel` answers at ONE position.

A live read that needs several views reads them while the views stand still (the position before
equals the position after; else it tries again, then reads them as of one position), so a file
never mixes two moments and can honestly say which position it reflects.

Who may see what is the caller's business (`api/scope.py`): the functions here take predicates.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from domain.cycle.model import cycle_id as cycle_id_of
from domain.errors import InvalidInput, NotFound
from domain.scoring import ItemInput, score
from projections.outputs.common import digest
from projections.queries import MAX_PAGE, AsOf, ReadModel

T = TypeVar("T")
MAX_EXPORT_ROWS = 200_000  # audit rows in one export; narrow the filters beyond that
CycleCheck = Callable[[dict[str, Any]], bool]
CardCheck = Callable[[dict[str, Any], dict[str, Any]], bool]


class TooManyRows(InvalidInput):
    """An export would exceed `MAX_EXPORT_ROWS` (a 422: narrow the filters)."""

    rule = "export-too-large"

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} audit rows match; narrow the filters (cycle, unit, "
                         "item, kind, since/until)")


def consistent(read_model: ReadModel, as_of: AsOf | None,
               read: Callable[[AsOf | None], T], attempts: int = 3) -> T:
    """`read(as_of)` with every view it asks for at one position."""
    position = read_model.resolve(as_of)
    if position is not None:
        return read(AsOf(position=position))
    for _ in range(attempts):
        before = read_model.position()
        result = read(None)
        if read_model.position() == before:
            return result
    return read(AsOf(position=read_model.position()))


def position_of(*views: dict[str, Any]) -> int | None:
    positions = {v.get("as_of_position") for v in views} - {None}
    return max(positions) if positions else None


def ranking_and_scheme(read_model: ReadModel, cycle_id: UUID, group_code: str,
                       as_of: AsOf | None) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A group's ranking and its classification scheme (for the chart's bands)."""

    def read(moment: AsOf | None) -> tuple[dict[str, Any], list[dict[str, str]]]:
        cycle = read_model.cycle(cycle_id, moment)
        scheme = groups_of(cycle, group_code)[0]["classification"]
        return read_model.ranking(cycle_id, group_code, moment), scheme

    return consistent(read_model, as_of, read)


def field_profile(read_model: ReadModel, scorecard_id: UUID, as_of: AsOf | None,
                  with_averages: bool) -> tuple[dict[str, Any], dict[str, Decimal] | None,
                                                dict[str, Any]]:
    """A unit's scorecard, its group's field averages (when asked) and its cycle."""

    def read(moment: AsOf | None) -> tuple[dict[str, Any], dict[str, Decimal] | None,
                                           dict[str, Any]]:
        card = read_model.scorecard(scorecard_id, moment)
        cycle_id = UUID(card["cycle_id"])
        cycle = read_model.cycle(cycle_id, moment)
        averages = None
        if with_averages:
            averages = field_averages([
                read_model.field_comparison(cycle_id, card["group_code"], f["code"], moment)
                for f in card["fields"]])
        return card, averages, cycle

    return consistent(read_model, as_of, read)


# -- groups and fields --------------------------------------------------------------------------


def groups_of(cycle: dict[str, Any], group_code: str | None = None) -> list[dict[str, Any]]:
    groups = cycle["detail"]["groups"]
    if group_code is None:
        return list(groups)
    chosen = [g for g in groups if g["code"] == group_code]
    if not chosen:
        raise NotFound(f"group {group_code!r} is not a group of this cycle", field="group_code")
    return chosen


def rankings(read_model: ReadModel, cycle_id: UUID, group_code: str | None,
             as_of: AsOf | None) -> list[dict[str, Any]]:
    """The ranking of one group, or of every group of the cycle, at one position."""

    def read(moment: AsOf | None) -> list[dict[str, Any]]:
        cycle = read_model.cycle(cycle_id, moment)
        return [read_model.ranking(cycle_id, g["code"], moment)
                for g in groups_of(cycle, group_code)]

    return consistent(read_model, as_of, read)


def field_codes(read_model: ReadModel, group: dict[str, Any]) -> list[str]:
    return list(read_model.app.framework_tree(UUID(group["framework_id"])).field_codes)


def field_comparisons(read_model: ReadModel, cycle_id: UUID, group_code: str | None,
                      field_code: str | None, as_of: AsOf | None) -> list[dict[str, Any]]:
    """Every field (or one) of every group (or one), at one position."""

    def read(moment: AsOf | None) -> list[dict[str, Any]]:
        cycle = read_model.cycle(cycle_id, moment)
        out = []
        for group in groups_of(cycle, group_code):
            codes = [field_code] if field_code is not None else field_codes(read_model, group)
            out += [read_model.field_comparison(cycle_id, group["code"], code, moment)
                    for code in codes]
        return out

    return consistent(read_model, as_of, read)


def field_averages(comparisons: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Group average of each field's % of its applicable maximum, over ranked units (unrounded:
    mean of points / applicable maximum × 100)."""
    averages = {}
    for comparison in comparisons:
        shares = [Decimal(r["points"]) * 100 / Decimal(r["applicable_max"])
                  for r in comparison["rows"]
                  if r["ranked"] and Decimal(r["applicable_max"]) > 0]
        if shares:
            averages[comparison["field_code"]] = sum(shares, Decimal(0)) / len(shares)
    return averages


def public_rows(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The public form of rankings and comparisons: ranked units only."""
    return [{**v, "rows": [r for r in v["rows"] if r["ranked"]]} for v in views]


# -- the audit trail ----------------------------------------------------------------------------


def audit_rows(read_model: ReadModel, *, as_of: AsOf | None, limit: int = MAX_EXPORT_ROWS,
               **filters: Any) -> tuple[list[dict[str, Any]], int]:
    """Every audit row matching the filters, all pages, at one position: (rows, position)."""
    first = read_model.audit(limit=MAX_PAGE, as_of=as_of, **filters)
    position = first["as_of_position"]
    rows, cursor = list(first["rows"]), first["next_cursor"]
    while cursor is not None:
        if len(rows) > limit:
            raise TooManyRows(limit)
        page = read_model.audit(limit=MAX_PAGE, after=cursor, as_of=AsOf(position=position),
                                **filters)
        rows += page["rows"]
        cursor = page["next_cursor"]
    if len(rows) > limit:
        raise TooManyRows(limit)
    return [{**r, "recorded_at": _iso(r["recorded_at"])} for r in rows], position


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# -- stages of an appraisal and years of a unit -------------------------------------------------


def items_of(scorecard: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def visit(node: dict[str, Any]) -> None:
        if "item" in node:
            found.append(node)
        for child in node.get("children", ()):
            visit(child)

    for field in scorecard["fields"]:
        visit(field)
    return found


def stage_totals(read_model: ReadModel, framework_id: UUID,
                 scorecard: dict[str, Any]) -> dict[str, str]:
    """The appraised part as the unit self-assessed it, after round 1, and final (after round 2
    and any correction) — with the domain's own scoring (not-applicable rules included)."""
    tree = read_model.app.framework_tree(framework_id)
    inputs = {}
    for node in items_of(scorecard):
        if tree.nodes[node["code"]].survey_fed:
            continue
        item = node["item"]
        round1 = item.get("round1")
        points = round1["points"] if round1 else item.get("self_points")
        inputs[node["code"]] = ItemInput(
            points=None if points is None else Decimal(points),
            not_applicable=bool(item.get("not_applicable")) and not round1)
    totals = scorecard["totals"]
    return {"self_assessed": totals["self_assessed_appraised_part"],
            "round_1": str(score(tree, inputs).appraised_part),
            "final": totals["appraised_part"], "appraised_max": totals["appraised_max"],
            "survey_part": totals["survey_part"], "bonus": totals["bonus"],
            "penalty": totals["penalty"], "total": totals["total"]}


def framework_of(cycle: dict[str, Any], group_code: str) -> UUID:
    return UUID(groups_of(cycle, group_code)[0]["framework_id"])


def unit_entry(cycle: dict[str, Any], unit_code: str) -> dict[str, Any] | None:
    for unit in cycle["detail"]["units"]:
        if unit["code"] == unit_code:
            return unit
    return None


def card_stub(unit: dict[str, Any]) -> dict[str, Any]:
    """What the scope checks need of a scorecard, from a cycle's unit entry."""
    return {"unit_code": unit["code"], "ranked": unit["ranked"],
            "scorecard_id": unit["scorecard_id"]}


def timeline(read_model: ReadModel, scorecard_id: UUID, as_of: AsOf | None,
             may_read: CardCheck) -> dict[str, Any]:
    """A unit's score across the years of its province (where it existed and the reader may
    see it): per year the appraised part self-assessed, after round 1 and final, and the total."""

    def read(moment: AsOf | None) -> dict[str, Any]:
        card = read_model.scorecard(scorecard_id, moment)
        cycle = read_model.cycle(UUID(card["cycle_id"]), moment)
        years = []
        for year in range(cycle["year"] - 9, cycle["year"] + 1):
            try:
                other = read_model.cycle(cycle_id_of(cycle["province"], year), moment)
            except NotFound:
                continue
            unit = unit_entry(other, card["unit_code"])
            if unit is None or not may_read(card_stub(unit), other):
                continue
            view = card if year == cycle["year"] else read_model.scorecard(
                UUID(unit["scorecard_id"]), moment)
            years.append({"year": year, "cycle_id": other["cycle_id"],
                          "scorecard_id": view["scorecard_id"], "unit_name": view["unit_name"],
                          "group_code": view["group_code"], "ranked": view["ranked"],
                          "stages": stage_totals(read_model,
                                                 framework_of(other, view["group_code"]),
                                                 view)})
        return {"province": cycle["province"], "unit_code": card["unit_code"],
                "unit_name": card["unit_name"], "years": years,
                "as_of_position": card["as_of_position"]}

    return consistent(read_model, as_of, read)


# -- the per-unit report ------------------------------------------------------------------------

ADJUSTING = ("appraisal_round_1", "appraisal_round_2", "correction")


def classification_of(total: Any, scheme: list[dict[str, str]]) -> str | None:
    value = Decimal(str(total))
    for band in sorted(scheme, key=lambda b: Decimal(b["min_total"]), reverse=True):
        if value >= Decimal(band["min_total"]):
            return band["label"]
    return None


def report_data(read_model: ReadModel, scorecard_id: UUID, as_of: AsOf | None, *,
                internal: bool, group_visible: CycleCheck, may_read: CardCheck,
                checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the per-unit report shows, as plain data with its SHA-256 (`digest`, taken
    over everything but the position and the digest itself, so the same results give the same
    digest whichever later position they are read at).

    `internal` readers (the unit, its appraiser, the secretariat, council, inspectors) get
    every adjustment's reason, actor and time; the public edition gets what the public
    scorecard carries (points, explanations, bonus and penalty reasons)."""

    def read(moment: AsOf | None) -> dict[str, Any]:
        view = (read_model.explain(scorecard_id, moment) if internal
                else read_model.scorecard(scorecard_id, moment))
        cycle = read_model.cycle(UUID(view["cycle_id"]), moment)
        group = groups_of(cycle, view["group_code"])[0]
        data: dict[str, Any] = {
            "edition": "internal" if internal else "public",
            "province": cycle["province"], "year": cycle["year"],
            "cycle_id": cycle["cycle_id"], "cycle_title": cycle.get("title"),
            "phase": cycle["phase"], "publication": cycle["detail"]["publication"],
            "approval": cycle["detail"].get("approval"),
            "scorecard_id": view["scorecard_id"],
            "unit": {"code": view["unit_code"], "name": view["unit_name"],
                     "group_code": group["code"], "group_name": group["name"],
                     "ranked": view["ranked"], "status": view["status"]},
            "totals": view["totals"],
            "stages": stage_totals(read_model, UUID(group["framework_id"]), view),
            "classification_scheme": group["classification"],
            "bonus_entries": view["bonus_entries"], "penalty_entries": view["penalty_entries"],
            "fields": [_report_field(f, internal) for f in view["fields"]],
            "checkpoint": checkpoint,
        }
        data.update(_standing(read_model, cycle, group, view, moment, group_visible))
        data["previous"] = _previous(read_model, cycle, view, moment, group_visible, may_read,
                                     data)
        data["digest"] = digest(data)
        data["as_of_position"] = view["as_of_position"]
        return data

    return consistent(read_model, as_of, read)


def _report_field(field: dict[str, Any], internal: bool) -> dict[str, Any]:
    items = []

    def visit(node: dict[str, Any], depth: int) -> None:
        row = {key: node.get(key) for key in ("code", "title", "level", "points", "max_points",
                                              "applicable_max", "percent")}
        row["depth"] = depth
        item = node.get("item")
        if item is not None:
            round1, round2 = item.get("round1") or {}, item.get("round2") or {}
            row.update(self_points=item.get("self_points"), round1=round1.get("points"),
                       round1_decision=round1.get("decision"), round2=round2.get("points"),
                       round2_decision=round2.get("decision"),
                       survey_points=item.get("survey_points"),
                       corrected_points=item.get("corrected_points"),
                       final_points=item.get("final_points"), source=item.get("source"),
                       not_applicable=item.get("not_applicable"),
                       explanation=item.get("explanation"))
            row["adjustments"] = [
                {"kind": e["kind"], "old": e["old_value"], "new": e["new_value"],
                 "reason": e["reason"], "decision_ref": e["decision_ref"],
                 "actor_id": e["actor_id"], "actor_role": e["actor_role"],
                 "recorded_at": _iso(e["recorded_at"]), "position": e["position"]}
                for e in node.get("events", ()) if internal and e["kind"] in ADJUSTING
                and e["old_value"] != e["new_value"]]
        items.append(row)
        for child in node.get("children", ()):
            visit(child, depth + 1)

    for child in field.get("children", ()):
        visit(child, 1)
    return {**{key: field.get(key) for key in ("code", "title", "points", "max_points",
                                               "applicable_max", "percent")}, "rows": items}


def _standing(read_model: ReadModel, cycle: dict[str, Any], group: dict[str, Any],
              view: dict[str, Any], moment: AsOf | None,
              group_visible: CycleCheck) -> dict[str, Any]:
    """Rank, class and group figures when the reader may see the group's results; else only
    the class the unit's own total falls in (provisional)."""
    if not group_visible(cycle):
        return {"group_results_visible": False,
                "classification": classification_of(view["totals"]["total"],
                                                     group["classification"]),
                "rank": None, "ranked_count": None, "group_average": None,
                "above_average": None, "tied_with": [], "ranking_row": None}
    ranking = read_model.ranking(UUID(cycle["cycle_id"]), group["code"], moment)
    row = next(r for r in ranking["rows"] if r["unit_code"] == view["unit_code"])
    return {"group_results_visible": True, "classification": row["classification"],
            "rank": row["rank"], "ranked_count": ranking["ranked_count"],
            "group_average": ranking["average"], "above_average": row["above_average"],
            "tied_with": [r["unit_name"] for r in ranking["rows"] if r["rank"] is not None
                          and r["rank"] == row["rank"] and r["unit_code"] != row["unit_code"]],
            "ranking_row": row}


def _previous(read_model: ReadModel, cycle: dict[str, Any], view: dict[str, Any],
              moment: AsOf | None, group_visible: CycleCheck, may_read: CardCheck,
              data: dict[str, Any]) -> dict[str, Any] | None:
    """Last year's total, rank, class and fields of the same unit, with the changes."""
    try:
        previous = read_model.cycle(cycle_id_of(cycle["province"], cycle["year"] - 1), moment)
    except NotFound:
        return None
    unit = unit_entry(previous, view["unit_code"])
    if unit is None or not may_read(card_stub(unit), previous):
        return None
    last = read_model.scorecard(UUID(unit["scorecard_id"]), moment)
    out: dict[str, Any] = {"year": previous["year"], "scorecard_id": last["scorecard_id"],
                           "unit_name": last["unit_name"], "group_code": last["group_code"],
                           "total": last["totals"]["total"], "rank": None,
                           "classification": None, "ranked_count": None}
    prev_groups = {g["code"]: g for g in previous["detail"]["groups"]}
    if group_visible(previous) and last["group_code"] in prev_groups:
        ranking = read_model.ranking(UUID(previous["cycle_id"]), last["group_code"], moment)
        row = next(r for r in ranking["rows"] if r["unit_code"] == view["unit_code"])
        out.update(rank=row["rank"], classification=row["classification"],
                   ranked_count=ranking["ranked_count"])
    elif last["group_code"] in prev_groups:
        out["classification"] = classification_of(
            last["totals"]["total"], prev_groups[last["group_code"]]["classification"])
    out["total_delta"] = str(Decimal(view["totals"]["total"]) - Decimal(out["total"]))
    current_rank = data.get("rank")
    out["rank_delta"] = (out["rank"] - current_rank
                         if out["rank"] is not None and current_rank is not None else None)
    out["fields"] = {f["code"]: {"title": f["title"], "points": f["points"],
                                 "percent": f["percent"]} for f in last["fields"]}
    return out
