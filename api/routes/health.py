"""Liveness and store status."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api import __version__
from api.deps import ParIndexDep, ReadModelDep
from api.http import StrictRoute

router = APIRouter(tags=["operations"],
                   route_class=StrictRoute)


class StoreStatus(BaseModel):
    kind: str = Field(examples=["sqlite"])
    url: str = Field(description="the store URL without its password",
                     examples=["sqlite:///var/parindex.sqlite3"])
    head_position: int = Field(description="global position of the newest stored event "
                               "(0 when empty)", examples=[1234])


class ViewStatus(BaseModel):
    view: str = Field(examples=["scoreboard"])
    generation: int | None = Field(description="the generation readers use")
    pending_generation: str | None = Field(description="a rebuilt generation catching up")
    position: int = Field(description="last event folded into the views")
    head: int = Field(description="newest event in the store")
    lag: int = Field(description="events not yet in the views")


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str = Field(examples=["0.1.0"])
    store: StoreStatus
    views: list[ViewStatus]
    runner: dict[str, object] | None = Field(
        default=None, description="this process's projection runner, when it runs one")


@router.get("/health", response_model=Health, summary="Service, store and view status")
def health(parindex: ParIndexDep, read_model: ReadModelDep, request: Request) -> Health:
    """Reads the store's head and every view's position, so a broken connection or a stalled
    runner shows here."""
    head = parindex.recorder.max_notification_id() or 0
    runner = request.app.state.runner
    return Health(status="ok", version=__version__,
                  store=StoreStatus(kind=parindex.settings.kind,
                                    url=parindex.settings.description, head_position=head),
                  views=[ViewStatus(**read_model.status())],
                  runner=None if runner is None else dataclasses.asdict(runner.status))
