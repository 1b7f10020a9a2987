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
    version: str = Field(examples=["0.2.0"])
    store: StoreStatus
    views: list[ViewStatus]
    runner: dict[str, object] | None = Field(
        default=None, description="this process's projection runner, when it runs one")
    integrity: dict[str, object] | None = Field(
        default=None, description="the last verification of the hash chain and evidence files "
        "(state pending | ok | failed | error, verified position and time), when this process "
        "runs the monitor")


@router.get("/health", response_model=Health, summary="Service, store and view status")
def health(parindex: ParIndexDep, read_model: ReadModelDep, request: Request) -> Health:
    """Reads the store's head and every view's position, so a broken connection or a stalled
    runner shows here."""
    head = parindex.recorder.max_notification_id() or 0
    runner = request.app.state.runner
    monitor = getattr(request.app.state, "integrity_monitor", None)
    integrity = None if monitor is None else dict(monitor.status())
    status = "failed" if integrity is not None and integrity.get("ok") is False else "ok"
    return Health(status=status, version=__version__, integrity=integrity,
                  store=StoreStatus(kind=parindex.settings.kind,
                                    url=parindex.settings.description, head_position=head),
                  views=[ViewStatus(**read_model.status())],
                  runner=None if runner is None else dataclasses.asdict(runner.status))
