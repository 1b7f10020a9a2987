"""Dependencies handed to routes: this process's ParIndex and read model."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from domain.application import ParIndex
from projections.queries import ReadModel


# `async def` although nothing is awaited: FastAPI runs a plain `def` dependency in its thread
# pool, a thread hop per request for a dictionary lookup.
async def get_parindex(request: Request) -> ParIndex:
    return request.app.state.parindex


async def get_read_model(request: Request) -> ReadModel:
    return request.app.state.read_model


ParIndexDep = Annotated[ParIndex, Depends(get_parindex)]
ReadModelDep = Annotated[ReadModel, Depends(get_read_model)]
