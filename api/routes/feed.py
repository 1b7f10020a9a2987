"""The change feed: published-safe events by global position, as JSON pages or Server-Sent
Events, so integrators follow parindex without polling whole tables.

Only facts that are public anyway appear: frameworks published, cycles opened and moved on,
results published, and corrections to published results of ranked units. Resume from the last
position you processed (`after`, or the SSE `Last-Event-ID`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any

from eventsourcing.utils import get_topic
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.auth import ActorDep
from api.deps import ParIndexDep, ReadModelDep
from api.errors import PROBLEMS
from api.http import MAX_POSITION, StrictRoute
from domain.application import ParIndex
from domain.cycle.model import AssessmentCycle
from domain.framework.model import Framework
from domain.scorecard.model import Scorecard
from projections.queries import ReadModel

router = APIRouter(prefix="/api/v1/feed", tags=["integrators"], responses=PROBLEMS,
                   route_class=StrictRoute)
MAX_FEED_PAGE = 500


def _framework_published(e: Framework.Published, app: ParIndex) -> dict[str, Any]:
    framework = app.framework(e.originator_id)
    return {"framework_id": str(e.originator_id), "code": framework.code,
            "version": framework.framework_version}


def _cycle_opened(e: AssessmentCycle.Opened, app: ParIndex) -> dict[str, Any]:
    return {"cycle_id": str(e.originator_id), "province": e.province, "year": e.year,
            "title": e.title}


def _phase_advanced(e: AssessmentCycle.PhaseAdvanced, app: ParIndex) -> dict[str, Any]:
    return {"cycle_id": str(e.originator_id), "from_phase": e.from_phase.value,
            "to_phase": e.to_phase.value}


def _results_published(e: AssessmentCycle.ResultsPublished, app: ParIndex) -> dict[str, Any]:
    return {"cycle_id": str(e.originator_id), "decision_ref": e.decision_ref,
            "decision_date": e.decision_date.isoformat()}


def _points_corrected(e: Scorecard.PointsCorrected, app: ParIndex) -> dict[str, Any] | None:
    card = app.scorecard(e.originator_id)
    if not card.ranked:
        return None  # evaluated-only units' results are not public
    return {"scorecard_id": str(e.originator_id), "cycle_id": str(card.cycle_id),
            "unit_code": card.unit_code, "item_code": e.item_code,
            "previous_points": None if e.previous_points is None else str(e.previous_points),
            "points": str(e.points), "reason": e.reason, "decision_ref": e.decision_ref}


PUBLIC = {
    Framework.Published: ("framework.published", _framework_published),
    AssessmentCycle.Opened: ("cycle.opened", _cycle_opened),
    AssessmentCycle.PhaseAdvanced: ("cycle.phase_advanced", _phase_advanced),
    AssessmentCycle.ResultsPublished: ("cycle.results_published", _results_published),
    Scorecard.PointsCorrected: ("scorecard.points_corrected", _points_corrected),
}
TOPICS = [get_topic(cls) for cls in PUBLIC]


class FeedEntry(BaseModel):
    position: int = Field(examples=[4821])
    type: str = Field(examples=["cycle.results_published"])
    recorded_at: str = Field(examples=["2026-02-14T08:00:00.000000Z"])
    data: dict[str, Any]


class FeedPage(BaseModel):
    entries: list[FeedEntry]
    next_after: int = Field(description="pass as `after` for the next page")
    head: int = Field(description="newest position in the store when this page was read")


def feed_page(app: ParIndex, after: int, limit: int) -> FeedPage:
    head = app.recorder.max_notification_id() or 0
    notifications = app.recorder.select_notifications(start=after, limit=limit, stop=head,
                                                      topics=TOPICS, inclusive_of_start=False)
    entries = []
    for notification in notifications:
        event = app.mapper.to_domain_event(notification)
        name, describe = PUBLIC[type(event)]
        data = describe(event, app)
        if data is not None:
            entries.append(FeedEntry(position=notification.id, type=name,
                                     recorded_at=event.timestamp.isoformat(), data=data))
    # A short page means everything up to the head was scanned.
    next_after = notifications[-1].id if len(notifications) == limit else max(after, head)
    return FeedPage(entries=entries, next_after=next_after, head=head)


@router.get("", response_model=FeedPage, summary="Change feed (JSON pages)")
def get_feed(parindex: ParIndexDep, actor: ActorDep,
             after: Annotated[int, Query(ge=0, le=MAX_POSITION,
                                         description="last position you processed")] = 0,
             limit: Annotated[int, Query(ge=1, le=MAX_FEED_PAGE)] = 100) -> FeedPage:
    return feed_page(parindex, after, limit)


@router.get("/stream", summary="Change feed (Server-Sent Events)",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`id:` is the position, `event:` the type"}})
def stream_feed(request: Request, parindex: ParIndexDep, read_model: ReadModelDep,
                actor: ActorDep,
                last_event_id: Annotated[str | None, Header()] = None,
                after: Annotated[int, Query(ge=0, le=MAX_POSITION)] = 0,
                seconds: Annotated[int, Query(ge=1, le=300, description=(
                    "how long to hold the connection; reconnect with Last-Event-ID"))] = 30,
                ) -> StreamingResponse:
    start = (min(int(last_event_id), MAX_POSITION)
             if last_event_id and last_event_id.isdigit() else after)
    return StreamingResponse(_events(parindex, read_model, start, seconds),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def _events(app: ParIndex, read_model: ReadModel, after: int, seconds: int) -> Iterator[str]:
    deadline = time.monotonic() + seconds
    yield "retry: 2000\n\n"
    while time.monotonic() < deadline:
        page = feed_page(app, after, MAX_FEED_PAGE)
        for entry in page.entries:
            yield (f"id: {entry.position}\nevent: {entry.type}\n"
                   f"data: {json.dumps(entry.model_dump(), ensure_ascii=False)}\n\n")
        if page.next_after == after:
            threading.Event().wait(min(1.0, max(0.0, deadline - time.monotonic())))
        after = page.next_after


