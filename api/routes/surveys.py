"""Survey imports (secretariat only): mappings, file uploads with a dry run, the import's
report, the rows behind a unit's result, and decisions on samples below the minimum.

A refused file is a 422 `application/problem+json` of type `/problems/survey-rejected` whose
`errors` list every faulty row (`row`, `column`, `code`, `message`; the header is row 1) and
whose `error_count` counts them all; a file above the size limit is a 413 of the same type.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, File, Form, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import ActorDep, require_roles
from api.deps import ParIndexDep
from api.errors import PROBLEMS
from api.http import StrictRoute
from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.survey.errors import SurveyRejected
from domain.survey.service import DEFAULT_MAX_BYTES, SurveyService

router = APIRouter(prefix="/api/v1", tags=["secretariat"], responses=PROBLEMS,
                   route_class=StrictRoute)
CHUNK = 1 << 16
MULTIPART_OVERHEAD = 64 * 1024


def max_survey_bytes() -> int:
    return int(os.environ.get("PARINDEX_SURVEY_MAX_BYTES", str(DEFAULT_MAX_BYTES)))


def _service(request: Request, parindex: ParIndex, actor: Actor) -> SurveyService:
    require_roles(actor, Role.SECRETARIAT)
    return SurveyService(parindex, request.app.state.blobs, max_survey_bytes())


def _refused(error: SurveyRejected) -> JSONResponse:
    """The RFC 9457 problem of a refused file, with every faulty row."""
    status = 413 if any(e.get("code") == "file-too-large" for e in error.errors) else 422
    body = {"type": f"/problems/{error.rule}", "title": "Survey rejected", "status": status,
            "detail": error.message, "field": error.field, "errors": error.errors,
            "error_count": error.error_count}
    return JSONResponse(jsonable_encoder(body), status_code=status,
                        media_type="application/problem+json")


def _written(payload: dict[str, Any], status_code: int = 200) -> JSONResponse:
    headers = {}
    if payload.get("position") is not None:
        headers["X-Event-Position"] = str(payload["position"])
    return JSONResponse(jsonable_encoder(payload), status_code=status_code, headers=headers)


class MappingRevisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: dict[str, Any]
    reason: str = Field(min_length=1, examples=["Biểu mẫu KSCB phiên bản 2: thêm câu Q7"])


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_code: str = Field(min_length=1, examples=["X-DAILANH"])
    item_code: str | None = Field(default=None, description="all the unit's pending items "
                                  "when omitted (apply_anyway only)", examples=["9.1.1"])
    decision: Literal["apply_anyway", "set_points"]
    points: str | int | None = Field(default=None, description="for set_points",
                                     examples=["3.50"])
    reason: str = Field(min_length=1, examples=["Hội đồng quyết định sử dụng kết quả (biên "
                                                "bản số 02/BB-HĐ)"])


MAPPING_EXAMPLE = {
    "code": "KH-2025-SO-SIPAS", "framework_code": "SO-2025", "instrument": "SIPAS",
    "min_valid_n": 30,
    "columns": {"respondent": "_id", "unit": "unit_code"},
    "items": [{"item_code": "8.2", "method": "satisfied_share",
               "questions": ["TC1", "TC2", "TTHC1", "CC1", "KQ1"],
               "indicators": ["SIPAS"]}],
}


@router.post("/survey-mappings", status_code=201, summary="Define a survey mapping")
def define_mapping(request: Request, parindex: ParIndexDep, actor: ActorDep,
                   document: Annotated[dict[str, Any], Body(examples=[MAPPING_EXAMPLE])]
                   ) -> JSONResponse:
    """Question codes (responses) and indicators (aggregates) → survey-fed items, with the
    method (`satisfied_share` or `rescaled_mean`), optional stratum weights and the minimum
    valid sample (docs/surveys.md). Version 1."""
    result = _service(request, parindex, actor).define_mapping(actor, document)
    return _written({"id": str(result.mapping_id), "code": result.code,
                     "version": result.version, "position": result.position}, 201)


@router.post("/survey-mappings/{code}/versions", summary="Revise a survey mapping")
def revise_mapping(code: str, body: MappingRevisionIn, request: Request,
                   parindex: ParIndexDep, actor: ActorDep) -> JSONResponse:
    """The next version (same framework and instrument); imports name the version they
    used. An identical document writes nothing (`position` null)."""
    result = _service(request, parindex, actor).revise_mapping(actor, code, body.document,
                                                               body.reason)
    return _written({"id": str(result.mapping_id), "code": result.code,
                     "version": result.version, "position": result.position})


@router.get("/survey-mappings/{code}", summary="A survey mapping and its versions")
def get_mapping(code: str, request: Request, parindex: ParIndexDep,
                actor: ActorDep) -> dict[str, Any]:
    mapping = _service(request, parindex, actor).mapping(code)
    return {"id": str(mapping.id), "code": mapping.code, "version": mapping.mapping_version,
            "document": mapping.document,
            "versions": [{"version": n, "document": d}
                         for n, d in enumerate(mapping.documents, start=1)]}


@router.post("/cycles/{cycle_id}/survey-imports", summary="Import (or dry-run) a survey file",
             responses={201: {"description": "imported"},
                        200: {"description": "dry run, or the same file already imported"},
                        413: PROBLEMS[422]})
def import_survey(cycle_id: UUID, request: Request, parindex: ParIndexDep, actor: ActorDep,
                  file: Annotated[UploadFile, File(description="CSV or XLSX")],
                  mapping: Annotated[str, Form(description="mapping code")],
                  form: Annotated[Literal["responses", "aggregates"] | None, Form()] = None,
                  encoding: Annotated[Literal["utf-8", "windows-1258"], Form()] = "utf-8",
                  dry_run: Annotated[bool, Query(description="show what the import would do; "
                                                 "write nothing")] = False) -> JSONResponse:
    """Multipart upload, streamed into the content-addressed blob store (SHA-256; limit
    PARINDEX_SURVEY_MAX_BYTES, default 100 MB). Responses (one row per respondent) or
    aggregates (one row per unit and indicator), detected from the header unless `form` says.
    The import records the file, the mapping version, row counts, rows set aside and every
    unit's result, and applies the points to every covered scorecard in one transaction; the
    same file again (same mapping version, same cycle) writes nothing; another file supersedes
    the standing import of that framework and instrument. `dry_run=true` returns the same
    report and writes nothing (the file is kept in the blob store)."""
    service = _service(request, parindex, actor)
    limit = service.max_bytes
    declared = request.headers.get("content-length")
    try:
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise SurveyRejected.one("file-too-large", f"the upload has {int(declared):,} "
                                     f"bytes; the limit is {limit:,}")
        blob = service.store(iter(lambda: file.file.read(CHUNK), b""))
        report = service.import_file(actor, cycle_id, mapping, blob, file.filename or "",
                                     form=form, encoding=encoding, dry_run=dry_run)
    except SurveyRejected as error:
        return _refused(error)
    return _written(report, 201 if report["status"] == "imported" else 200)


@router.get("/cycles/{cycle_id}/survey-imports", summary="The survey imports of a cycle")
def list_imports(cycle_id: UUID, request: Request, parindex: ParIndexDep,
                 actor: ActorDep) -> list[dict[str, Any]]:
    """Per framework and instrument, the imports in order; `current` is the one standing."""
    return _service(request, parindex, actor).imports_of(cycle_id)


@router.get("/survey-imports/{import_id}", summary="A survey import's report")
def get_import(import_id: UUID, request: Request, parindex: ParIndexDep,
               actor: ActorDep) -> dict[str, Any]:
    """Who imported which file (SHA-256) when, under which mapping version; rows read, used
    and set aside (with reasons); every unit's n, index, formula and points; what it
    superseded or was superseded by; decisions on small samples and those still pending."""
    return _service(request, parindex, actor).report(import_id)


@router.get("/survey-imports/{import_id}/units/{unit_code}/rows",
            summary="The file rows behind a unit's result")
def trace_unit(import_id: UUID, unit_code: str, request: Request, parindex: ParIndexDep,
               actor: ActorDep,
               limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> dict[str, Any]:
    """Read again from the stored file (its SHA-256 verified): the unit's rows as imported,
    with the result and formula they produced."""
    try:
        return _service(request, parindex, actor).trace(import_id, unit_code, limit)
    except SurveyRejected as error:  # the stored file no longer matches its hash
        return _refused(error)  # type: ignore[return-value]


@router.post("/survey-imports/{import_id}/decisions",
             summary="Decide on a sample below the minimum")
def decide(import_id: UUID, body: DecisionIn, request: Request, parindex: ParIndexDep,
           actor: ActorDep) -> JSONResponse:
    """`apply_anyway` (the computed points) or `set_points`, with a reason; recorded on the
    import and applied to the scorecard in one transaction."""
    result = _service(request, parindex, actor).decide(
        actor, import_id, body.unit_code, body.item_code, body.decision, body.reason,
        body.points)
    return _written(result)
