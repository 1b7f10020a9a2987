"""Dependencies handed to routes: the one ParIndex application of this process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from domain.application import ParIndex


def get_parindex(request: Request) -> ParIndex:
    return request.app.state.parindex


ParIndexDep = Annotated[ParIndex, Depends(get_parindex)]
