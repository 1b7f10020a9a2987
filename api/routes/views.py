"""Read routes over the projections: live, or as of a past position or UTC time.

Every read accepts `min_position` (wait, bounded, until the views include your write) and
`as_of_position` / `as_of_time` (the view as it stood then, rebuilt from the events)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.deps import ReadModelDep
from projections.queries import MAX_PAGE, AsOf

router = APIRouter(prefix="/api/v1", tags=["views"])


def moment(
    read_model: ReadModelDep,
    min_position: Annotated[int | None, Query(ge=0, description=(
        "wait (up to 5 s) until the views include this global position — pass the position "
        "a write returned to read your own writes"))] = None,
    as_of_position: Annotated[int | None, Query(ge=0, description=(
        "answer as the view stood at this global position"))] = None,
    as_of_time: Annotated[datetime | None, Query(description=(
        "answer as the view stood at this UTC time (ISO 8601 with zone)"))] = None,
) -> AsOf | None:
    read_model.wait_for(min_position)
    if as_of_position is None and as_of_time is None:
        return None
    return AsOf(position=as_of_position, time=as_of_time)


MomentDep = Annotated[AsOf | None, Depends(moment)]


@router.get("/cycles", summary="Every assessment cycle")
def list_cycles(read_model: ReadModelDep) -> list[dict[str, Any]]:
    """Cycles by province and year, with their phase, groups and schedule."""
    return read_model.cycles()


@router.get("/cycles/{cycle_id}", summary="One cycle")
def get_cycle(cycle_id: UUID, read_model: ReadModelDep, as_of: MomentDep) -> dict[str, Any]:
    return read_model.cycle(cycle_id, as_of)


@router.get("/cycles/{cycle_id}/groups/{group_code}/ranking", summary="Ranking of a group")
def get_ranking(cycle_id: UUID, group_code: str, read_model: ReadModelDep,
                as_of: MomentDep) -> dict[str, Any]:
    """Ranks on unrounded totals (competition by default, dense as a cycle setting);
    evaluated-only units are listed without a rank; average, above-average count, spread, class
    counts and the change against the previous year of the same province."""
    return read_model.ranking(cycle_id, group_code, as_of)


@router.get("/cycles/{cycle_id}/groups/{group_code}/fields/{field_code}",
            summary="Every unit's points in one field")
def get_field_comparison(cycle_id: UUID, group_code: str, field_code: str,
                         read_model: ReadModelDep, as_of: MomentDep) -> dict[str, Any]:
    """Points, % of the applicable maximum and points lost per unit, best first."""
    return read_model.field_comparison(cycle_id, group_code, field_code, as_of)


@router.get("/scorecards/{scorecard_id}", summary="A unit's scorecard")
def get_scorecard(scorecard_id: UUID, read_model: ReadModelDep,
                  as_of: MomentDep) -> dict[str, Any]:
    """Per item: declared values, self-score, round-1 decision, explanation, round-2 decision,
    survey points, correction, final points and their source, evidence; per criterion and
    field the points and % of max; the unit's parts and total."""
    return read_model.scorecard(scorecard_id, as_of)


@router.get("/scorecards/{scorecard_id}/explain", summary="How a unit's total was reached")
def explain_scorecard(scorecard_id: UUID, read_model: ReadModelDep,
                      as_of: MomentDep) -> dict[str, Any]:
    """The derivation tree down to every item's final points and the events (actor, time,
    reason, position) that set them."""
    return read_model.explain(scorecard_id, as_of)


@router.get("/audit", summary="Audit trail")
def get_audit(
    read_model: ReadModelDep,
    as_of: MomentDep,
    cycle_id: UUID | None = None,
    unit_code: str | None = None,
    item_code: str | None = None,
    actor_id: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of the previous page")]
    = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """One row per event that changed a point, an explanation or evidence: old → new value,
    actor, role, UTC time, reason, event id and global position."""
    return read_model.audit(cycle_ref=cycle_id, unit_code=unit_code, item_code=item_code,
                            actor_id=actor_id, kind=kind, since=since, until=until,
                            after=cursor, limit=limit, as_of=as_of)

