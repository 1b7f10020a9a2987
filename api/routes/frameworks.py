"""Frameworks: drafted, revised and published by the secretariat."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response

from api.auth import ActorDep
from api.deps import ParIndexDep
from api.errors import PROBLEMS
from api.http import StrictRoute, command_response, expected_version, view_response
from api.schemas import CommandOut, FrameworkIn, FrameworkOut, FrameworkRevisionIn

router = APIRouter(prefix="/api/v1/frameworks", tags=["secretariat"], responses=PROBLEMS,
                   route_class=StrictRoute)


@router.post("", status_code=201, response_model=CommandOut, summary="Draft a framework")
def define_framework(body: FrameworkIn, parindex: ParIndexDep, actor: ActorDep) -> Response:
    """Draft a framework (fields → criteria → sub-criteria with methods); with `supersedes`, the
    next version of a published one."""
    return command_response(parindex.define_framework(actor, body.document, body.supersedes),
                            201)


@router.post("/{framework_id}/revisions", response_model=CommandOut,
             summary="Replace a draft's document")
def revise_framework(framework_id: UUID, body: FrameworkRevisionIn, request: Request,
                     parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.revise_framework(
        actor, framework_id, body.document, body.reason, expected_version(request)))


@router.post("/{framework_id}/publication", response_model=CommandOut,
             summary="Publish a framework (immutable from then on)")
def publish_framework(framework_id: UUID, request: Request, parindex: ParIndexDep,
                      actor: ActorDep) -> Response:
    return command_response(parindex.publish_framework(
        actor, framework_id, expected_version=expected_version(request)))


@router.get("/{framework_id}", response_model=FrameworkOut, tags=["views"],
            summary="A framework's document")
def get_framework(framework_id: UUID, request: Request, parindex: ParIndexDep,
                  actor: ActorDep) -> Response:
    """Frameworks are public once published; drafts are for the secretariat, council and
    inspectors."""
    from api import scope
    from domain.errors import NotFound

    framework = parindex.framework(framework_id)
    if not framework.is_published and not scope.privileged(actor):
        raise NotFound(f"framework {framework_id} does not exist")
    body = FrameworkOut(id=framework.id, code=framework.code,
                        version=framework.framework_version, published=framework.is_published,
                        supersedes=framework.supersedes, document=framework.document)
    response = view_response(request, body)
    return response
