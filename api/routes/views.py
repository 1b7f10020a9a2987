"""Read routes over the projections: live, or as of a past position or UTC time.

Every read accepts `min_position` (wait, bounded, until the views include your write); the
secretariat, council and inspectors may also ask `as_of_position` / `as_of_time` (the view as it
stood then, rebuilt from the events). Views carry an ETag; `If-None-Match` gives 304."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response

from api import scope
from api.auth import ActorDep
from api.deps import ReadModelDep
from api.errors import PROBLEMS
from api.http import MAX_POSITION, StrictRoute, view_response
from api.pagination import decode_cursor, encode_cursor
from api.schemas import IsoTime
from api.view_schemas import (
    AuditPage,
    CycleView,
    FieldComparisonView,
    RankingView,
    ScorecardView,
    ok,
    ok_list,
)
from domain.actors import UNIT_ROLES, Actor
from domain.errors import NotFound
from projections.queries import MAX_PAGE, AsOf, ReadModel
from projections.rows import LiveRows

router = APIRouter(prefix="/api/v1", tags=["views"], responses=PROBLEMS,
                   route_class=StrictRoute)


def moment(
    read_model: ReadModelDep,
    actor: ActorDep,
    min_position: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description=(
        "wait (up to 5 s) until the views include this global position — pass the position "
        "a write returned to read your own writes"))] = None,
    as_of_position: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description=(
        "answer as the view stood at this global position (secretariat, council, inspector)"
    ))] = None,
    as_of_time: Annotated[IsoTime | None, Query(description=(
        "answer as the view stood at this UTC time, ISO 8601 with zone (secretariat, council, "
        "inspector)"))] = None,
) -> AsOf | None:
    read_model.wait_for(min_position)
    if as_of_position is None and as_of_time is None:
        return None
    scope.require_privileged(actor, "reading the past")
    return AsOf(position=as_of_position, time=as_of_time)


MomentDep = Annotated[AsOf | None, Depends(moment)]


def _live(read_model: ReadModel) -> LiveRows:
    return LiveRows(read_model.views, read_model.generation())


def _cycle_for(read_model: ReadModel, actor: Actor, cycle_id: UUID) -> dict[str, Any]:
    try:
        cycle = _live(read_model).cycle_row(cycle_id)
    except NotFound:
        if scope.privileged(actor):
            raise
        scope.forbid()
    if not scope.privileged(actor) and actor.role not in UNIT_ROLES \
            and actor.role.value != "appraiser" and not scope.published(cycle):
        scope.forbid()
    return cycle


def _scorecard_for(read_model: ReadModel, actor: Actor, scorecard_id: UUID,
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    live = _live(read_model)
    try:
        card = live.scorecard_row(scorecard_id)
        cycle = live.cycle_row(UUID(card["cycle_id"]))
    except NotFound:
        if scope.privileged(actor):
            raise
        scope.forbid()
    if not scope.may_read_scorecard(actor, card, cycle):
        scope.forbid()
    return card, cycle


def _public_scorecard(view: dict[str, Any]) -> dict[str, Any]:
    """Published results without evidence files or notes."""

    def strip(node: dict[str, Any]) -> None:
        if "item" in node:
            node["item"] = {k: v for k, v in node["item"].items() if k not in ("evidence",
                                                                              "note")}
            node.pop("events", None)
        for child in node.get("children", ()):
            strip(child)

    for field in view["fields"]:
        strip(field)
    return view


@router.get("/cycles", summary="Assessment cycles",
            responses=ok_list(CycleView, "every cycle the token may see"))
def list_cycles(request: Request, read_model: ReadModelDep, actor: ActorDep,
                min_position: Annotated[int | None, Query(ge=0, le=MAX_POSITION, description=(
                    "wait (up to 5 s) until the views include this global position"))] = None,
                ) -> Response:
    """Cycles by province and year with their phase, groups and schedule (published cycles
    only for integrators)."""
    read_model.wait_for(min_position)
    cycles = read_model.cycles()
    if actor.role.value == "integrator":
        cycles = [c for c in cycles if scope.published(c)]
    return view_response(request, cycles)


@router.get("/cycles/{cycle_id}", summary="One cycle", responses=ok(CycleView, "the cycle"))
def get_cycle(cycle_id: UUID, request: Request, read_model: ReadModelDep, actor: ActorDep,
              as_of: MomentDep) -> Response:
    _cycle_for(read_model, actor, cycle_id)
    return view_response(request, read_model.cycle(cycle_id, as_of))


@router.get("/cycles/{cycle_id}/groups/{group_code}/ranking", summary="Ranking of a group",
            responses=ok(RankingView, "the ranking"))
def get_ranking(cycle_id: UUID, group_code: str, request: Request, read_model: ReadModelDep,
                actor: ActorDep, as_of: MomentDep) -> Response:
    """Ranks on unrounded totals (competition by default, dense as a cycle setting);
    evaluated-only units are listed without a rank (internal readers only); average,
    above-average count, spread, class counts and the change against the previous year."""
    cycle = _cycle_for(read_model, actor, cycle_id)
    internal = scope.require_group_results(actor, cycle)
    ranking = read_model.ranking(cycle_id, group_code, as_of)
    if not internal:
        ranking["rows"] = [row for row in ranking["rows"] if row["ranked"]]
    return view_response(request, ranking)


@router.get("/cycles/{cycle_id}/groups/{group_code}/fields/{field_code}",
            summary="Every unit's points in one field",
            responses=ok(FieldComparisonView, "the comparison"))
def get_field_comparison(cycle_id: UUID, group_code: str, field_code: str, request: Request,
                         read_model: ReadModelDep, actor: ActorDep,
                         as_of: MomentDep) -> Response:
    """Points, % of the applicable maximum and points lost per unit, best first."""
    cycle = _cycle_for(read_model, actor, cycle_id)
    internal = scope.require_group_results(actor, cycle)
    comparison = read_model.field_comparison(cycle_id, group_code, field_code, as_of)
    if not internal:
        comparison["rows"] = [row for row in comparison["rows"] if row["ranked"]]
    return view_response(request, comparison)


@router.get("/scorecards/{scorecard_id}", summary="A unit's scorecard",
            responses=ok(ScorecardView, "the scorecard"))
def get_scorecard(scorecard_id: UUID, request: Request, read_model: ReadModelDep,
                  actor: ActorDep, as_of: MomentDep) -> Response:
    """Per item: declared values, self-score, round-1 decision, explanation, round-2 decision,
    survey points, correction, final points and their source, evidence; per criterion and
    field the points and % of max; the unit's parts and total."""
    _, cycle = _scorecard_for(read_model, actor, scorecard_id)
    view = read_model.scorecard(scorecard_id, as_of)
    if not scope.may_read_evidence(actor, {"unit_code": view["unit_code"]}, cycle):
        view = _public_scorecard(view)
    return view_response(request, view)


@router.get("/scorecards/{scorecard_id}/explain", summary="How a unit's total was reached",
            responses=ok(ScorecardView, "the derivation tree"))
def explain_scorecard(scorecard_id: UUID, request: Request, read_model: ReadModelDep,
                      actor: ActorDep, as_of: MomentDep) -> Response:
    """The derivation tree down to every item's final points and the events (actor, time,
    reason, position) that set them."""
    _, cycle = _scorecard_for(read_model, actor, scorecard_id)
    view = read_model.explain(scorecard_id, as_of)
    if not scope.may_read_evidence(actor, {"unit_code": view["unit_code"]}, cycle):
        view = _public_scorecard(view)
        view.pop("bonus_and_penalty_events", None)
    return view_response(request, view)


@router.get("/audit", summary="Audit trail", responses=ok(AuditPage, "one page"))
def get_audit(
    request: Request,
    read_model: ReadModelDep,
    actor: ActorDep,
    as_of: MomentDep,
    cycle_id: UUID | None = None,
    unit_code: str | None = None,
    item_code: str | None = None,
    actor_id: str | None = None,
    kind: str | None = None,
    since: IsoTime | None = None,
    until: IsoTime | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE}")] = 100,
) -> Response:
    """One row per event that changed a point, an explanation or evidence: old → new value,
    actor, role, UTC time, reason, event id and global position. Units see their own rows."""
    if not scope.privileged(actor):
        if actor.role not in UNIT_ROLES:
            scope.forbid()
        if unit_code not in (None, actor.unit_code):
            scope.forbid()
        unit_code = actor.unit_code
    page = read_model.audit(cycle_ref=cycle_id, unit_code=unit_code, item_code=item_code,
                            actor_id=actor_id, kind=kind, since=since, until=until,
                            after=decode_cursor(cursor), limit=limit, as_of=as_of)
    page["next_cursor"] = encode_cursor(page["next_cursor"])
    return view_response(request, page)


@router.get("/scorecards/{scorecard_id}/evidence/{sha256}", summary="Download evidence",
            response_class=Response, responses={200: {"content": {
                "application/octet-stream": {}}, "description": "the original file"}})
def download_evidence(scorecard_id: UUID, sha256: str, request: Request,
                      read_model: ReadModelDep, actor: ActorDep) -> Response:
    """The file as uploaded (its SHA-256 is checked on every read), under its original name."""
    card, cycle = _scorecard_for(read_model, actor, scorecard_id)
    if not scope.may_read_evidence(actor, card, cycle):
        scope.forbid()
    # The write model, not the view: a file is downloadable the moment it is attached.
    attached = request.app.state.parindex.scorecard(scorecard_id).evidence.values()
    files = [e for e in attached if e["sha256"] == sha256]
    if not files:
        raise NotFound(f"file {sha256} is not attached to this scorecard", field="sha256")
    data = request.app.state.blobs.read(sha256)
    name = files[0]["file_name"]
    return Response(data, media_type=files[0]["media_type"], headers={
        "Content-Disposition": _disposition(name), "ETag": f'"{sha256}"'})


def _disposition(name: str) -> str:
    from urllib.parse import quote

    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
