"""HTTP conventions shared by the routes: ETags on views (304 when unchanged), ETag = aggregate
version on writes with `If-Match` honoured, and the event position of every write."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from api.schemas import CommandOut
from domain.application import CommandResult
from domain.errors import InvalidInput


def view_response(request: Request, payload: Any) -> Response:
    """The payload as JSON with a strong ETag of its content; 304 when the client has it."""
    body = json.dumps(jsonable_encoder(payload), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    if etag in _tags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


def expected_version(request: Request) -> int | None:
    """`If-Match: "12"` → 12: the write only happens if the aggregate is still at version 12."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    tags = _tags(raw)
    if len(tags) != 1:
        raise InvalidInput("If-Match takes one ETag (the version you read)", field="If-Match")
    value = next(iter(tags)).strip('"')
    if not value.isdigit():
        raise InvalidInput("If-Match must be a version ETag such as \"12\"", field="If-Match")
    return int(value)


def command_response(result: CommandResult, status_code: int = 200) -> JSONResponse:
    body = CommandOut(id=result.aggregate_id, version=result.version, position=result.position)
    headers = {"ETag": f'"{result.version}"'}
    if result.position is not None:
        headers["X-Event-Position"] = str(result.position)
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


def _tags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


MAX_POSITION = 2**63 - 1  # BIGINT: positions beyond it cannot exist


class StrictRoute(APIRoute):
    """Refuses query parameters the operation does not declare: a misspelt `as_of_postion`
    must fail loudly, not silently answer with live data."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = _query_names(self.dependant)

        async def strict(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - allowed)
            if unknown:
                raise InvalidInput(f"unknown query parameter {unknown[0]!r}; this operation "
                                   f"takes {sorted(allowed) or 'none'}", field=unknown[0])
            for name, value in [*request.query_params.items(), *request.path_params.items()]:
                if "\x00" in str(value):  # no database stores NUL in text
                    raise InvalidInput(f"{name} contains a NUL character", field=name)
            return await handler(request)

        return strict


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
