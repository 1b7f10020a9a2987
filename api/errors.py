"""RFC 9457 problem details: the one place that maps domain errors to HTTP.

Every error body is `application/problem+json` with a stable `type` per rule
(`/problems/<rule>`), a `title`, the `status`, a `detail` sentence, and, where the domain named
one, the offending `item` (framework code) and `field` (input path).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import Forbidden, Unauthenticated
from domain import errors
from projections.queries import NotYetVisible

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("parindex.api")

STATUS: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 422,
    errors.ReasonRequired: 422,
    errors.SurveyItemNotSelfScored: 422,
    errors.NotFound: 404,
    errors.NotPermitted: 403,
    errors.AlreadyExists: 409,
    errors.PhaseClosed: 409,
    errors.ExplanationNotAllowed: 409,
    errors.ReappraisalNotAllowed: 409,
    errors.FrameworkImmutable: 409,
    errors.StaleVersion: 409,
    errors.WorkflowIncomplete: 409,
    errors.DomainError: 409,
}


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, in words and in a stable type."""

    type: str = Field(examples=["/problems/reason-required"])
    title: str = Field(examples=["Reason required"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["an adjustment needs a reason"])
    item: str | None = Field(default=None, examples=["1.1.2"])
    field: str | None = Field(default=None, examples=["reason"])
    errors: list[dict[str, Any]] | None = None


def _described(text: str) -> dict[str, Any]:
    return {"model": Problem, "description": text}


# Declared on every router so the OpenAPI document lists each error with its schema.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _described("the body could not be read (not JSON, not UTF-8)"),
    401: _described("no token, or an unknown or revoked one"),
    403: _described("the token's role or unit may not do or see this"),
    404: _described("no such record (for privileged readers)"),
    409: _described("a rule refused the act (phase closed, deadline passed, stale, …)"),
    412: _described("If-Match named a version that is no longer current"),
    422: _described("invalid input; `field` and `item` name the fault"),
    503: _described("the views did not reach min_position in time"),
}


def problem(status: int, rule: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"/problems/{rule}", "title": rule.replace("-", " ").capitalize(),
            "status": status, "detail": detail}
    body.update({key: value for key, value in extra.items() if value is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def status_of(error: errors.DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 409


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.DomainError)
    status = status_of(error)
    if isinstance(error, errors.StaleVersion) and error.expected >= 0 \
            and request.headers.get("if-match"):
        status = 412  # the client's If-Match precondition failed
    return problem(status, error.rule, error.message, item=error.item, field=error.field,
                   errors=getattr(error, "errors", None))  # row-level reports (surveys)


async def _conflict(request: Request, error: Exception) -> JSONResponse:
    return problem(409, "concurrent-write", "another write reached this record first; reload "
                   "and try again")


async def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [{"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
               for e in error.errors()]
    first = details[0] if details else {"field": None, "message": "invalid request"}
    return problem(422, "invalid-input", f"{first['field']}: {first['message']}",
                   field=first["field"], errors=details)


async def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    rule = {400: "unreadable-body", 404: "not-found", 405: "method-not-allowed",
            401: "unauthenticated",
            403: "not-permitted"}.get(error.status_code, "http-error")
    response = problem(error.status_code, rule, str(error.detail))
    response.headers.update(error.headers or {})
    if error.status_code == 405:
        response.headers["Allow"] = ", ".join(sorted(_methods_of(request)))
    return response


def _methods_of(request: Request) -> set[str]:
    """Every method the OpenAPI document lists for this path (Starlette's own 405 names only
    the first router's methods, and one path's operations live in several routers)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    return methods


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "the server failed; the error was logged")


async def _not_yet_visible(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, NotYetVisible)
    response = problem(503, "not-yet-visible", str(error), wanted=error.wanted,
                       reached=error.reached)
    response.headers["Retry-After"] = "1"
    return response


async def _unauthenticated(request: Request, error: Exception) -> JSONResponse:
    response = problem(401, "unauthenticated", str(error))
    response.headers["WWW-Authenticate"] = 'Bearer realm="parindex"'
    return response


async def _forbidden(request: Request, error: Exception) -> JSONResponse:
    return problem(403, "forbidden", str(error))


def install(app: FastAPI) -> None:
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(NotYetVisible, _not_yet_visible)
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
