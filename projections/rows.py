"""Live row source: the active generation's tables, normalised to the same JSON-ready shape
that `HistoricRows` produces, so every view is built by one piece of code from either."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from domain.errors import NotFound
from projections.store import TABLES, ViewStore

BOOLEAN_COLUMNS = {"published", "ranked"}
JSON_COLUMNS = {"detail", "document"}
T = TypeVar("T")


def normal(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready: ids and decimals as text, nested detail as plain lists and dicts."""
    return json.loads(json.dumps(row, default=str, ensure_ascii=False, sort_keys=True))


def columns(table: str) -> list[str]:
    return [spec.split()[0] for spec in TABLES[table].split(", ")
            if not spec.startswith("PRIMARY")]


STANDING_COLUMNS = [c for c in columns("scorecards") if c not in ("self_total", "detail")]


def _decode(names: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(names, values, strict=True))
    for key in row.keys() & JSON_COLUMNS:
        row[key] = json.loads(row[key])
    for key in row.keys() & BOOLEAN_COLUMNS:
        row[key] = bool(row[key])
    return normal(row)


def on_generation(views: ViewStore, generation: int, read: Callable[[int], T]) -> T:
    """`read(generation)`; when a blue/green switch dropped that generation while a request was
    still using it (a missing table), `read` again on the generation that replaced it."""
    try:
        return read(generation)
    except Exception:
        active = views.active_generation()
        if active is None or active == generation:
            raise
        return read(active)


class LiveRows:
    def __init__(self, views: ViewStore, generation: int):
        self.views = views
        self.generation = generation

    def _select(self, table: str, where: str, params: tuple[Any, ...],
                names: list[str] | None = None) -> list[dict[str, Any]]:
        names = names or columns(table)

        def read(generation: int) -> list[dict[str, Any]]:
            with self.views.reading() as cur:
                cur.execute(f"SELECT {', '.join(names)} FROM pv_{table}_g{generation} "
                            f"WHERE {where}", params)
                rows = [_decode(names, tuple(values)) for values in cur.fetchall()]
            self.generation = generation
            return rows

        return on_generation(self.views, self.generation, read)

    def cycle_row(self, cycle_id: UUID) -> dict[str, Any]:
        rows = self._select("cycles", "cycle_id = %s", (str(cycle_id),))
        if not rows:
            raise NotFound(f"cycle {cycle_id} does not exist", field="cycle_id")
        return rows[0]

    def cycle_rows(self) -> list[dict[str, Any]]:
        return sorted(self._select("cycles", "1 = 1", ()),
                      key=lambda r: (r["province"], r["year"]))

    def find_cycle_row(self, province: str, year: int) -> dict[str, Any] | None:
        rows = self._select("cycles", "province = %s AND year = %s", (province, year))
        return rows[0] if rows else None

    def scorecard_rows(self, cycle_id: UUID) -> list[dict[str, Any]]:
        return self._select("scorecards", "cycle_id = %s", (str(cycle_id),))

    def standing_rows(self, cycle_id: UUID, group_code: str | None = None
                      ) -> list[dict[str, Any]]:
        rows = self._select("scorecards", "cycle_id = %s", (str(cycle_id),),
                            names=STANDING_COLUMNS)
        return [row for row in rows if group_code is None or row["group_code"] == group_code]

    def scorecard_row(self, scorecard_id: UUID) -> dict[str, Any]:
        rows = self._select("scorecards", "scorecard_id = %s", (str(scorecard_id),))
        if not rows:
            raise NotFound(f"scorecard {scorecard_id} does not exist", field="scorecard_id")
        return rows[0]

    def framework_row(self, framework_id: UUID) -> dict[str, Any]:
        rows = self._select("frameworks", "framework_id = %s", (str(framework_id),))
        if not rows:
            raise NotFound(f"framework {framework_id} does not exist", field="framework_id")
        return rows[0]
