"""Liveness and store status."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import ParIndexDep

router = APIRouter(tags=["operations"])


class StoreStatus(BaseModel):
    kind: str = Field(examples=["sqlite"])
    url: str = Field(description="the store URL without its password",
                     examples=["sqlite:///var/parindex.sqlite3"])
    head_position: int = Field(description="global position of the newest stored event "
                               "(0 when empty)", examples=[1234])


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str = Field(examples=["0.1.0"])
    store: StoreStatus


@router.get("/health", response_model=Health, summary="Service and store status")
def health(parindex: ParIndexDep) -> Health:
    """Reads the store's head position, so a broken store connection shows here as an error."""
    from api import __version__

    head = parindex.recorder.max_notification_id() or 0
    return Health(status="ok", version=__version__,
                  store=StoreStatus(kind=parindex.settings.kind,
                                    url=parindex.settings.description, head_position=head))
