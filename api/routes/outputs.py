"""Publication outputs over HTTP: CSV/XLSX exports, PNG/SVG charts and the per-unit PDF report.

Each output is the file form of a view and follows that view's read rules exactly (the scope
helpers of `api/routes/views.py`): integrators get published results of ranked units only and
no audit trail; a unit's officer and head get their own unit's scorecard, charts and report
before publication; `as_of_position` / `as_of_time` (secretariat, council, inspectors) give the
file as it stood then. Files carry `Content-Disposition` (a Vietnamese name, with an ASCII
fallback), `X-As-Of-Position`, and an `ETag` of the data they were drawn from (304 when it has
not changed). Builders: `projections/outputs/`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from api import scope
from api.auth import ActorDep
from api.deps import ReadModelDep
from api.errors import PROBLEMS
from api.http import StrictRoute
from api.routes.views import MomentDep, _cycle_for, _public_scorecard, _scorecard_for
from api.schemas import IsoTime
from domain.actors import UNIT_ROLES, Actor
from projections.outputs import charts, data, exports, report
from projections.outputs.common import canonical_json, slug

router = APIRouter(prefix="/api/v1", tags=["views"], responses=PROBLEMS,
                   route_class=StrictRoute)

SHEETS = {"csv": exports.CSV_MEDIA_TYPE, "xlsx": exports.XLSX_MEDIA_TYPE}
IMAGES = charts.MEDIA_TYPES
PDF = {"pdf": report.PDF_MEDIA_TYPE}

SheetFormat = Annotated[Literal["csv", "xlsx"], Query(
    alias="format", description="csv (UTF-8 with BOM, comma, dot decimals) or xlsx (number "
    "cells, frozen header, one sheet per group)")]
ImageFormat = Annotated[Literal["png", "svg"], Query(
    alias="format", description="png, or svg (text kept as text, font DejaVu Sans)")]


def _responses(media_types: dict[str, str], description: str,
               extra_headers: dict[str, str] | None = None) -> dict[int | str, dict[str, Any]]:
    headers = {
        "Content-Disposition": "attachment; the file name (ASCII) and filename* (UTF-8)",
        "ETag": "a hash of the data the file was drawn from; send it as If-None-Match",
        "X-As-Of-Position": "the global event position the file reflects",
        **(extra_headers or {})}
    return {
        200: {"description": description,
              "content": {media: {"schema": {"type": "string", "format": "binary"}}
                          for media in media_types.values()},
              "headers": {name: {"description": text, "schema": {"type": "string"}}
                          for name, text in headers.items()}},
        304: {"description": "unchanged since the ETag in If-None-Match"}}


def _file(request: Request, kind: str, fmt: str, media_types: dict[str, str], source: Any,
          build: Callable[[], bytes], name: str, position: int | None,
          headers: dict[str, str] | None = None) -> Response:
    """The file, or 304 when the client holds the file of the same data."""
    etag = '"' + hashlib.sha256(f"{kind}/{fmt}/".encode() + canonical_json(source)
                                ).hexdigest()[:32] + '"'
    common = {"ETag": etag, "X-As-Of-Position": str(position), **(headers or {})}
    if etag in _tags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=common)
    return Response(build(), media_type=media_types[fmt], headers={
        **common, "Content-Disposition": disposition(f"{name}.{fmt}")})


def _tags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the Vietnamese one (RFC 6266/8187)."""
    stem, _, ext = name.rpartition(".")
    return f"attachment; filename=\"{slug(stem)}.{ext}\"; filename*=UTF-8''{quote(name)}"


def file_stem(cycle: dict[str, Any], what: str, position: int | None) -> str:
    return f"Chỉ số CCHC {cycle['year']} {cycle['province']} - {what} - vị trí {position}"


# -- exports ------------------------------------------------------------------------------------


@router.get("/cycles/{cycle_id}/exports/ranking", summary="Export rankings (CSV, XLSX)",
            response_class=Response, responses=_responses(SHEETS, "the rankings"))
def export_ranking(cycle_id: UUID, request: Request, read_model: ReadModelDep,
                   actor: ActorDep, as_of: MomentDep, fmt: SheetFormat = "csv",
                   group_code: Annotated[str | None, Query(
                       description="one group; every group of the cycle when omitted")] = None,
                   ) -> Response:
    """The ranking view of one group or every group: rank, parts, total (unrounded), class,
    above-average flag and the change against last year; XLSX adds a sheet of group statistics
    (average, above-average count, spread, classes this year and last)."""
    cycle = _cycle_for(read_model, actor, cycle_id)
    internal = scope.require_group_results(actor, cycle)
    views = data.rankings(read_model, cycle_id, group_code, as_of)
    if not internal:
        views = data.public_rows(views)
    position = data.position_of(*views)
    stem = file_stem(cycle, f"xếp hạng {group_code or 'các khối'}", position)
    return _file(request, "ranking", fmt, SHEETS, views,
                 lambda: exports.ranking_csv(views) if fmt == "csv"
                 else exports.ranking_xlsx(views, title=stem), stem, position)


@router.get("/cycles/{cycle_id}/exports/fields", summary="Export field comparisons (CSV, XLSX)",
            response_class=Response, responses=_responses(SHEETS, "the field comparisons"))
def export_fields(cycle_id: UUID, request: Request, read_model: ReadModelDep, actor: ActorDep,
                  as_of: MomentDep, fmt: SheetFormat = "csv",
                  group_code: Annotated[str | None, Query(
                      description="one group; every group when omitted")] = None,
                  field_code: Annotated[str | None, Query(
                      description="one field; every field when omitted")] = None) -> Response:
    """Every unit's points, maximum, % of the applicable maximum and points lost, field by
    field (the field comparison view, best first within a field)."""
    cycle = _cycle_for(read_model, actor, cycle_id)
    internal = scope.require_group_results(actor, cycle)
    views = data.field_comparisons(read_model, cycle_id, group_code, field_code, as_of)
    if not internal:
        views = data.public_rows(views)
    position = data.position_of(*views)
    stem = file_stem(cycle, f"lĩnh vực {group_code or 'các khối'}"
                     + (f" {field_code}" if field_code else ""), position)
    return _file(request, "fields", fmt, SHEETS, views,
                 lambda: exports.fields_csv(views) if fmt == "csv"
                 else exports.fields_xlsx(views, title=stem), stem, position)


@router.get("/scorecards/{scorecard_id}/export", summary="Export a scorecard (CSV, XLSX)",
            response_class=Response, responses=_responses(SHEETS, "the scorecard"))
def export_scorecard(scorecard_id: UUID, request: Request, read_model: ReadModelDep,
                     actor: ActorDep, as_of: MomentDep, fmt: SheetFormat = "csv") -> Response:
    """Every field, criterion and item: maximum, self-score, both rounds, explanation, survey
    points, correction, final points, % and source; XLSX adds the totals and the bonus and
    penalty entries."""
    _, cycle = _scorecard_for(read_model, actor, scorecard_id)
    view = read_model.scorecard(scorecard_id, as_of)
    if not scope.may_read_evidence(actor, {"unit_code": view["unit_code"]}, cycle):
        view = _public_scorecard(view)
    position = view["as_of_position"]
    stem = file_stem(cycle, f"phiếu điểm {view['unit_name']}", position)
    return _file(request, "scorecard", fmt, SHEETS, view,
                 lambda: exports.scorecard_csv(view) if fmt == "csv"
                 else exports.scorecard_xlsx(view, title=stem), stem, position)


@router.get("/audit/export", summary="Export the audit trail (CSV, XLSX)",
            response_class=Response, responses=_responses(SHEETS, "the audit rows"))
def export_audit(
    request: Request,
    read_model: ReadModelDep,
    actor: ActorDep,
    as_of: MomentDep,
    fmt: SheetFormat = "csv",
    cycle_id: UUID | None = None,
    unit_code: str | None = None,
    item_code: str | None = None,
    actor_id: str | None = None,
    kind: str | None = None,
    since: IsoTime | None = None,
    until: IsoTime | None = None,
) -> Response:
    """Every audit row matching the filters (all pages, at one position; at most
    200 000): position, UTC time, unit, item, kind, old → new, actor, role, reason, decision,
    event id. Units export their own rows; integrators none."""
    unit_code = _audit_scope(actor, unit_code)
    rows, position = data.audit_rows(read_model, as_of=as_of, cycle_ref=cycle_id,
                                     unit_code=unit_code, item_code=item_code,
                                     actor_id=actor_id, kind=kind, since=since, until=until)
    stem = f"Nhật ký thay đổi{' ' + unit_code if unit_code else ''} - vị trí {position}"
    return _file(request, "audit", fmt, SHEETS, rows,
                 lambda: exports.audit_csv(rows) if fmt == "csv"
                 else exports.audit_xlsx(rows, title=stem, position=position), stem, position)


def _audit_scope(actor: Actor, unit_code: str | None) -> str | None:
    """The audit view's rule: privileged readers everything, units their own rows."""
    if scope.privileged(actor):
        return unit_code
    if actor.role not in UNIT_ROLES or unit_code not in (None, actor.unit_code):
        scope.forbid()
    return actor.unit_code


# -- charts -------------------------------------------------------------------------------------


@router.get("/cycles/{cycle_id}/groups/{group_code}/charts/ranking",
            summary="Ranking chart of a group (PNG, SVG)", response_class=Response,
            responses=_responses(IMAGES, "the chart"))
def chart_ranking(cycle_id: UUID, group_code: str, request: Request, read_model: ReadModelDep,
                  actor: ActorDep, as_of: MomentDep, fmt: ImageFormat = "png") -> Response:
    """Totals as bars, best first, coloured by class over the class bands, with the group
    average and the above-average count; evaluated-only units hatched (internal readers)."""
    cycle = _cycle_for(read_model, actor, cycle_id)
    internal = scope.require_group_results(actor, cycle)
    ranking, scheme = data.ranking_and_scheme(read_model, cycle_id, group_code, as_of)
    if not internal:
        ranking = data.public_rows([ranking])[0]
    position = ranking["as_of_position"]
    return _file(request, "chart-ranking", fmt, IMAGES, [ranking, scheme],
                 lambda: charts.ranking_chart(ranking, scheme, fmt),
                 file_stem(cycle, f"biểu đồ xếp hạng {group_code}", position), position)


@router.get("/scorecards/{scorecard_id}/charts/fields",
            summary="A unit's field profile against its group (PNG, SVG)",
            response_class=Response, responses=_responses(IMAGES, "the chart"))
def chart_fields(scorecard_id: UUID, request: Request, read_model: ReadModelDep,
                 actor: ActorDep, as_of: MomentDep, fmt: ImageFormat = "png") -> Response:
    """Each field's points as % of its maximum, beside the group average over ranked units
    (the average only for readers who may see the group's results)."""
    _, cycle = _scorecard_for(read_model, actor, scorecard_id)
    visible = scope.privileged(actor) or scope.published(cycle)
    card, averages, at = data.field_profile(read_model, scorecard_id, as_of, visible)
    group = data.groups_of(at, card["group_code"])[0]
    position = card["as_of_position"]
    source = [[f["code"], f["title"], f["points"], f["applicable_max"]] for f in card["fields"]]
    return _file(request, "chart-fields", fmt, IMAGES,
                 [card["unit_name"], source, averages, position],
                 lambda: charts.field_profile_chart(card, averages, fmt, year=at["year"],
                                                    group_name=group["name"]),
                 file_stem(at, f"biểu đồ lĩnh vực {card['unit_name']}", position), position)


@router.get("/scorecards/{scorecard_id}/charts/timeline",
            summary="A unit's score across rounds and years (PNG, SVG)",
            response_class=Response, responses=_responses(IMAGES, "the chart"))
def chart_timeline(scorecard_id: UUID, request: Request, read_model: ReadModelDep,
                   actor: ActorDep, as_of: MomentDep, fmt: ImageFormat = "png") -> Response:
    """Per year the unit existed (and the reader may see): the appraised part self-assessed →
    after round 1 → final (round 2 and corrections), and the final total."""
    _, cycle = _scorecard_for(read_model, actor, scorecard_id)
    line = data.timeline(read_model, scorecard_id, as_of,
                         lambda card, other: scope.may_read_scorecard(actor, card, other))
    position = line["as_of_position"]
    return _file(request, "chart-timeline", fmt, IMAGES, line,
                 lambda: charts.timeline_chart(line, fmt),
                 file_stem(cycle, f"biểu đồ qua các năm {line['unit_name']}", position),
                 position)


# -- the report ---------------------------------------------------------------------------------


@router.get("/scorecards/{scorecard_id}/report", summary="The unit's PDF report",
            response_class=Response, responses=_responses(PDF, "the report", {
                "X-Report-SHA256": "SHA-256 of the report's data (printed in the report)"}))
def unit_report(scorecard_id: UUID, request: Request, read_model: ReadModelDep,
                actor: ActorDep, as_of: MomentDep) -> Response:
    """Unit, cycle, total, class, rank in group, every field and item (self-score, rounds,
    final, the reason for every adjustment — internal readers), last year beside this year,
    the position and SHA-256 of the data, and a signature block. Before publication a unit
    sees its own report without rank or group figures."""
    card, cycle = _scorecard_for(read_model, actor, scorecard_id)
    internal = scope.may_read_evidence(actor, card, cycle)
    content = data.report_data(
        read_model, scorecard_id, as_of, internal=internal,
        group_visible=lambda other: scope.privileged(actor) or scope.published(other),
        may_read=lambda stub, other: scope.may_read_scorecard(actor, stub, other))
    position = content["as_of_position"]
    return _file(request, "report", "pdf", PDF, [content["digest"], position],
                 lambda: report.report_pdf(content),
                 file_stem(cycle, f"báo cáo {content['unit']['name']}", position), position,
                 {"X-Report-SHA256": content["digest"]})
