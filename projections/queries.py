"""Reads: scorecards, rankings, field comparisons, the audit trail and explanations — live from
the active generation, or as of a past position or UTC time, rebuilt from the events.

Every answer says which position it reflects (`as_of_position`), so a client can tell how fresh
it is; live reads accept `min_position` and wait (bounded) until the views have reached it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.application import ParIndex
from domain.cycle.model import cycle_id as cycle_id_of
from domain.cycle.phases import RankingRule
from domain.errors import InvalidInput, NotFound
from projections.cells import iso
from projections.history import HistoricRows
from projections.ranking import PreviousResult, Standing, rank_group
from projections.rows import LiveRows, on_generation
from projections.store import ViewStore

MAX_PAGE = 500


class NotYetVisible(Exception):
    """The views did not reach the requested position within the wait."""

    def __init__(self, wanted: int, reached: int):
        super().__init__(f"the views reached position {reached}, not {wanted}, in time")
        self.wanted = wanted
        self.reached = reached


@dataclass(frozen=True)
class AsOf:
    """A past moment: a global position, or a UTC time (the last event recorded by then)."""

    position: int | None = None
    time: datetime | None = None


class ReadModel:
    def __init__(self, app: ParIndex, views: ViewStore):
        self.app = app
        self.views = views

    # -- freshness ----------------------------------------------------------------------------

    def generation(self) -> int:
        generation = self.views.active_generation()
        if generation is None:
            raise NotYetVisible(1, 0)
        return generation

    def position(self) -> int:
        generation = self.views.active_generation()
        return 0 if generation is None else on_generation(self.views, generation,
                                                          self.views.position)

    def wait_for(self, position: int | None, timeout: float = 5.0) -> int:
        """Block until the views include `position` (read-your-writes); bounded."""
        reached = self.position()
        if position is None or reached >= position:
            return reached
        head = self.app.recorder.max_notification_id() or 0
        if position > head:
            raise InvalidInput(f"min_position {position} is beyond the newest event ({head})",
                               field="min_position")
        deadline = time.monotonic() + timeout
        delay = 0.005
        while time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
            reached = self.position()
            if reached >= position:
                return reached
        raise NotYetVisible(position, reached)

    def status(self) -> dict[str, Any]:
        head = self.app.recorder.max_notification_id() or 0
        position = self.position()
        return {"view": "scoreboard", "generation": self.views.active_generation(),
                "pending_generation": self.views.meta("pending_generation"),
                "position": position, "head": head, "lag": max(0, head - position)}

    # -- row sources --------------------------------------------------------------------------

    def resolve(self, as_of: AsOf | None) -> int | None:
        """The position an as-of request means; None for live."""
        if as_of is None or (as_of.position is None and as_of.time is None):
            return None
        head = self.app.recorder.max_notification_id() or 0
        if as_of.position is not None:
            if as_of.position < 0:
                raise InvalidInput("as_of_position must be ≥ 0", field="as_of_position")
            return min(as_of.position, head)
        assert as_of.time is not None
        if as_of.time.tzinfo is None:
            raise InvalidInput("as_of_time must carry a time zone", field="as_of_time")

        def latest(generation: int) -> tuple[Any, int]:
            folded = self.views.position(generation)  # first: the times below cover it
            with self.views.reading() as cur:
                cur.execute(f"SELECT max(position) FROM pv_event_times_g{generation} "
                            "WHERE recorded_at <= %s", (iso(as_of.time),))
                return cur.fetchone(), folded

        row, folded = on_generation(self.views, self.generation(), latest)
        position = int(row[0]) if row and row[0] is not None else 0
        # Events the views have not folded yet (a lagging runner) have no time row: read their
        # times from the log, else a recent time would mean the views' position, not the head.
        while batch := self.app.recorder.select_notifications(start=folded, limit=1000,
                                                              inclusive_of_start=False):
            for notification in batch:
                if self.app.mapper.to_domain_event(notification).timestamp <= as_of.time:
                    position = max(position, notification.id)
            folded = batch[-1].id
        return position

    def _source(self, as_of: AsOf | None) -> tuple[LiveRows | HistoricRows, int]:
        position = self.resolve(as_of)
        if position is None:
            return LiveRows(self.views, self.generation()), self.position()
        return HistoricRows(self.app, self.views, position), position

    # -- views --------------------------------------------------------------------------------

    def cycles(self) -> list[dict[str, Any]]:
        if self.views.active_generation() is None:
            return []  # no runner has created the views yet: nothing to list
        return LiveRows(self.views, self.generation()).cycle_rows()

    def cycle(self, cycle_ref: UUID, as_of: AsOf | None = None) -> dict[str, Any]:
        source, position = self._source(as_of)
        return {**source.cycle_row(cycle_ref), "as_of_position": position}

    def scorecard(self, scorecard_ref: UUID, as_of: AsOf | None = None) -> dict[str, Any]:
        source, position = self._source(as_of)
        row = source.scorecard_row(scorecard_ref)
        tree = self._tree(UUID(row["framework_id"]))
        detail = row["detail"]
        fields = []
        for field_code in tree.field_codes:
            fields.append(_node_view(tree, detail, field_code))
        return {
            "scorecard_id": row["scorecard_id"], "cycle_id": row["cycle_id"],
            "unit_code": row["unit_code"], "unit_name": row["unit_name"],
            "group_code": row["group_code"], "ranked": row["ranked"], "status": row["status"],
            "version": row["aggregate_version"],
            "totals": {"appraised_part": row["appraised_part"],
                       "survey_part": row["survey_part"], "bonus": row["bonus"],
                       "penalty": row["penalty"], "total": row["total"],
                       "total_percent": detail["total_percent"],
                       "self_assessed_appraised_part": row["self_total"],
                       "appraised_max": detail["appraised_max"],
                       "survey_max": detail["survey_max"]},
            "bonus_entries": detail["bonus_entries"],
            "penalty_entries": detail["penalty_entries"],
            "fields": fields, "as_of_position": position,
        }

    def ranking(self, cycle_ref: UUID, group_code: str,
                as_of: AsOf | None = None) -> dict[str, Any]:
        source, position = self._source(as_of)
        cycle = source.cycle_row(cycle_ref)
        group = _group(cycle, group_code)
        standings = [_standing(row) for row in source.standing_rows(cycle_ref, group_code)]
        previous, previous_scheme = self._previous(source, cycle, group_code)
        ranking = rank_group(standings, RankingRule(cycle["ranking_rule"]),
                             group["classification"], previous, previous_scheme)
        cards = {unit["code"]: unit["scorecard_id"] for unit in cycle["detail"]["units"]}
        return {
            "cycle_id": cycle["cycle_id"], "province": cycle["province"],
            "year": cycle["year"], "group_code": group_code, "group_name": group["name"],
            "phase": cycle["phase"], "rule": ranking.rule.value,
            "published": cycle["detail"]["publication"] is not None,
            "rows": [{"scorecard_id": cards[r.unit_code], **_ranked_row(r)}
                     for r in ranking.rows],
            "ranked_count": ranking.ranked_count,
            "average": _text(ranking.average), "above_average": ranking.above_average,
            "minimum": _text(ranking.minimum), "maximum": _text(ranking.maximum),
            "gap": _text(ranking.gap), "class_counts": ranking.class_counts,
            "previous_class_counts": ranking.previous_class_counts,
            "as_of_position": position,
        }

    def field_comparison(self, cycle_ref: UUID, group_code: str, field_code: str,
                         as_of: AsOf | None = None) -> dict[str, Any]:
        source, position = self._source(as_of)
        cycle = source.cycle_row(cycle_ref)
        group = _group(cycle, group_code)
        tree = self._tree(UUID(group["framework_id"]))
        node = tree.nodes.get(field_code)
        if node is None or node.parent is not None:
            raise NotFound(f"{field_code!r} is not a field of framework {tree.code}",
                           field="field_code")
        rows = []
        for row in source.scorecard_rows(cycle_ref):
            if row["group_code"] != group_code:
                continue
            points, maximum, applicable, percent = row["detail"]["nodes"][field_code]
            rows.append({"unit_code": row["unit_code"], "unit_name": row["unit_name"],
                         "ranked": row["ranked"], "points": points, "max_points": maximum,
                         "applicable_max": applicable, "percent": percent,
                         "points_lost": str(Decimal(applicable) - Decimal(points))})
        rows.sort(key=lambda r: (-Decimal(r["percent"]), r["unit_code"]))
        return {"cycle_id": cycle["cycle_id"], "group_code": group_code,
                "field_code": field_code, "field_title": node.title,
                "max_points": str(node.max_points), "rows": rows, "as_of_position": position}

    def audit(self, *, cycle_ref: UUID | None = None, unit_code: str | None = None,
              item_code: str | None = None, actor_id: str | None = None,
              kind: str | None = None, since: datetime | None = None,
              until: datetime | None = None, after: int | None = None, limit: int = 100,
              as_of: AsOf | None = None) -> dict[str, Any]:
        """One page of audit rows in position order; `next_cursor` is the last position."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be in 1..{MAX_PAGE}", field="limit")
        position = self.resolve(as_of)
        if position is not None:
            # The trail lives in the views: as of a moment they have not reached, wait (bounded)
            # rather than answer with a shortened trail.
            self.wait_for(position)
        clauses, params = ["1 = 1"], []
        for column, value in (("cycle_id", cycle_ref and str(cycle_ref)),
                              ("unit_code", unit_code), ("item_code", item_code),
                              ("actor_id", actor_id), ("kind", kind)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        for op, moment, name in ((">=", since, "since"), ("<=", until, "until")):
            if moment is not None:
                if moment.tzinfo is None:
                    raise InvalidInput(f"{name} must carry a time zone", field=name)
                clauses.append(f"recorded_at {op} %s")
                params.append(iso(moment))
        if after is not None:
            clauses.append("position > %s")
            params.append(after)
        if position is not None:
            clauses.append("position <= %s")
            params.append(position)

        def page(generation: int) -> list[dict[str, Any]]:
            with self.views.reading() as cur:
                cur.execute(
                    "SELECT position, event_id, recorded_at, cycle_id, scorecard_id, unit_code, "
                    "item_code, kind, old_value, new_value, actor_id, actor_role, reason, "
                    f"decision_ref FROM pv_audit_g{generation} WHERE {' AND '.join(clauses)} "
                    "ORDER BY position LIMIT %s", (*params, limit + 1))
                names = [d[0] for d in cur.description]
                return [dict(zip(names, values, strict=True)) for values in cur.fetchall()]

        rows = on_generation(self.views, self.generation(), page)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"rows": rows, "next_cursor": rows[-1]["position"] if more else None,
                "as_of_position": position if position is not None else self.position()}

    def explain(self, scorecard_ref: UUID, as_of: AsOf | None = None) -> dict[str, Any]:
        """The derivation of a unit's total down to every item and the events behind it."""
        view = self.scorecard(scorecard_ref, as_of)
        history: dict[str | None, list[dict[str, Any]]] = {}
        cursor = None
        while True:
            page = self.audit(cycle_ref=UUID(view["cycle_id"]), unit_code=view["unit_code"],
                              after=cursor, limit=MAX_PAGE,
                              as_of=AsOf(position=view["as_of_position"]))
            for row in page["rows"]:
                history.setdefault(row["item_code"], []).append(_event_ref(row))
            cursor = page["next_cursor"]
            if cursor is None:
                break
        for field in view["fields"]:
            _attach_history(field, history)
        view["bonus_and_penalty_events"] = history.get(None, [])
        view["derivation"] = ("total = appraised_part + survey_part + min(bonus, cap) − "
                              "min(penalty, cap), never below 0; appraised_part is rescaled "
                              "to the appraised maximum when items are dropped as not "
                              "applicable")
        return view

    # -- helpers ------------------------------------------------------------------------------

    def _tree(self, framework_id: UUID):
        return self.app.framework_tree(framework_id)

    def _previous(self, source: LiveRows | HistoricRows, cycle: dict[str, Any],
                  group_code: str) -> tuple[dict[str, PreviousResult] | None,
                                            list[dict[str, str]] | None]:
        try:
            previous_cycle = source.cycle_row(cycle_id_of(cycle["province"], cycle["year"] - 1))
        except NotFound:
            return None, None
        groups = {g["code"]: g for g in previous_cycle["detail"]["groups"]}
        if group_code not in groups:
            return None, None
        rows = source.standing_rows(UUID(previous_cycle["cycle_id"]), group_code)
        ranking = rank_group([_standing(r) for r in rows],
                             RankingRule(previous_cycle["ranking_rule"]),
                             groups[group_code]["classification"])
        return ({r.unit_code: PreviousResult(r.total, r.rank, r.classification)
                 for r in ranking.rows}, groups[group_code]["classification"])


def _group(cycle: dict[str, Any], group_code: str) -> dict[str, Any]:
    for group in cycle["detail"]["groups"]:
        if group["code"] == group_code:
            return group
    raise NotFound(f"group {group_code!r} is not a group of this cycle", field="group_code")


def _standing(row: dict[str, Any]) -> Standing:
    return Standing(unit_code=row["unit_code"], unit_name=row["unit_name"],
                    ranked=row["ranked"], total=Decimal(row["total"]),
                    appraised_part=Decimal(row["appraised_part"]),
                    survey_part=Decimal(row["survey_part"]), bonus=Decimal(row["bonus"]),
                    penalty=Decimal(row["penalty"]))


def _text(value: Decimal | int | None) -> str | None:
    return None if value is None else str(value)


def _ranked_row(row: Any) -> dict[str, Any]:
    return {"rank": row.rank, "unit_code": row.unit_code, "unit_name": row.unit_name,
            "ranked": row.ranked, "total": str(row.total), "total_display": row.total_display,
            "appraised_part": str(row.appraised_part), "survey_part": str(row.survey_part),
            "bonus": str(row.bonus), "penalty": str(row.penalty),
            "classification": row.classification, "above_average": row.above_average,
            "previous_total": _text(row.previous_total), "total_delta": _text(row.total_delta),
            "previous_rank": row.previous_rank, "rank_delta": row.rank_delta,
            "previous_classification": row.previous_classification,
            "classification_changed": row.classification_changed}


def _node_view(tree: Any, detail: dict[str, Any], code: str) -> dict[str, Any]:
    node = tree.nodes[code]
    points, maximum, applicable, percent = detail["nodes"][code]
    view: dict[str, Any] = {"code": code, "title": node.title, "level": node.level,
                            "points": points, "max_points": maximum,
                            "applicable_max": applicable, "percent": percent}
    if node.is_item:
        view["method"] = node.method.document()
        view["item"] = detail["items"][code]
    else:
        view["children"] = [_node_view(tree, detail, child) for child in node.children]
    return view


def _event_ref(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("position", "event_id", "recorded_at", "kind",
                                      "old_value", "new_value", "actor_id", "actor_role",
                                      "reason", "decision_ref")}


def _attach_history(node: dict[str, Any], history: dict[str | None, list[dict[str, Any]]]
                    ) -> None:
    if "item" in node:
        node["events"] = history.get(node["code"], [])
        source = node["item"]["source"]
        setters = {"self": {"self_score"}, "appraisal_round_1": {"appraisal_round_1"},
                   "appraisal_round_2": {"appraisal_round_2"}, "survey": {"survey"},
                   "correction": {"correction"}}.get(source, set())
        setting = [e for e in node["events"] if e["kind"] in setters]
        node["set_by"] = setting[-1] if setting else None
    for child in node.get("children", ()):
        _attach_history(child, history)

