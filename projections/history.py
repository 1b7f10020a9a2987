"""Reconstruct view rows as they stood at a past position, from the events themselves.

For each aggregate the version it had reached at the position is read from the event store's own
table (`notification_id <= position`), then the aggregate is rebuilt with the library's
repository at that version (starting from the nearest snapshot), and the same `Scoreboard` code
that feeds the live tables derives the rows. No view table is consulted, so a rebuilt or damaged
view cannot change what "as of" answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from domain.application import ParIndex
from domain.cycle.model import AssessmentCycle
from domain.errors import NotFound
from domain.scorecard.model import Scorecard
from projections.rows import normal
from projections.scoreboard import Scoreboard
from projections.store import ViewStore


def versions_at(app: ParIndex, views: ViewStore, ids: Iterable[UUID],
                position: int) -> dict[UUID, int]:
    """The version each aggregate had reached at `position` (absent if it did not exist)."""
    ids = list(ids)
    if not ids:
        return {}
    table = app.recorder.events_table_name
    with views.reading() as cur:
        if views.kind == "postgresql":
            cur.execute(f"SELECT originator_id, max(originator_version) FROM {table} "
                        "WHERE originator_id = ANY(%s) AND notification_id <= %s "
                        "GROUP BY originator_id", (ids, position))
        else:
            marks = ", ".join(["%s"] * len(ids))
            cur.execute(f"SELECT originator_id, max(originator_version) FROM {table} "
                        f"WHERE originator_id IN ({marks}) AND rowid <= %s "
                        "GROUP BY originator_id", (*[i.hex for i in ids], position))
        return {UUID(str(row[0])): int(row[1]) for row in cur.fetchall()}


class HistoricRows:
    """Row source for one past position (same row shapes as the live tables)."""

    def __init__(self, app: ParIndex, views: ViewStore, position: int):
        self.app = app
        self.views = views
        self.position = position
        self.board = Scoreboard.loading_from(app)

    def _at(self, aggregate_id: UUID) -> Any | None:
        version = versions_at(self.app, self.views, [aggregate_id], self.position)
        if aggregate_id not in version:
            return None
        return self.app.repository.get(aggregate_id, version=version[aggregate_id])

    def cycle_row(self, cycle_id: UUID) -> dict[str, Any]:
        cycle = self._at(cycle_id)
        if not isinstance(cycle, AssessmentCycle):
            raise NotFound(f"cycle {cycle_id} did not exist at position {self.position}")
        return normal(self.board.cycle_row(cycle))

    def cycle_aggregate(self, cycle_id: UUID) -> AssessmentCycle:
        cycle = self._at(cycle_id)
        if not isinstance(cycle, AssessmentCycle):
            raise NotFound(f"cycle {cycle_id} did not exist at position {self.position}")
        return cycle

    def scorecard_rows(self, cycle_id: UUID) -> list[dict[str, Any]]:
        return [normal(self.board.scorecard_row(card)) for card in self._cards(cycle_id)]

    def standing_rows(self, cycle_id: UUID, group_code: str | None = None
                      ) -> list[dict[str, Any]]:
        return [normal(self.board.standing_row(card))
                for card in self._cards(cycle_id, group_code)]

    def _cards(self, cycle_id: UUID, group_code: str | None = None) -> list[Scorecard]:
        """The cycle's scorecards (of one group) at the position; only those are rebuilt."""
        cycle = self.cycle_aggregate(cycle_id)
        ids = [unit["scorecard_id"] for unit in cycle.units.values()
               if group_code is None or unit["group"] == group_code]
        versions = versions_at(self.app, self.views, ids, self.position)
        return [self.app.repository.get(i, version=versions[i]) for i in ids if i in versions]

    def scorecard_row(self, scorecard_id: UUID) -> dict[str, Any]:
        card = self._at(scorecard_id)
        if not isinstance(card, Scorecard):
            raise NotFound(f"scorecard {scorecard_id} did not exist at position "
                           f"{self.position}")
        return normal(self.board.scorecard_row(card))
