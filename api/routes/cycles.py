"""Cycles: opening, enrolment, appraisers, phases, deadlines, approval and publication."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response

from api.auth import ActorDep
from api.deps import ParIndexDep
from api.errors import PROBLEMS
from api.http import StrictRoute, command_response, expected_version
from api.schemas import (
    AppraiserAssignmentIn,
    ApprovalIn,
    CommandOut,
    CycleIn,
    EnrolmentIn,
    ExtensionIn,
    PhaseIn,
    PublicationIn,
    SurveyPointsIn,
)
from domain.cycle.phases import Phase, RankingRule

router = APIRouter(prefix="/api/v1/cycles", tags=["secretariat"], responses=PROBLEMS,
                   route_class=StrictRoute)


@router.post("", status_code=201, response_model=CommandOut, summary="Open a cycle")
def open_cycle(body: CycleIn, parindex: ParIndexDep, actor: ActorDep) -> Response:
    """One province's assessment year: groups (each with its published framework and
    classification), the phase schedule and the tie rule."""
    result = parindex.open_cycle(
        actor, province=body.province, year=body.year, title=body.title,
        groups=[g.model_dump(mode="json", exclude_none=True) for g in body.groups],
        schedule=body.schedule, ranking_rule=RankingRule(body.ranking_rule))
    return command_response(result, 201)


@router.post("/{cycle_id}/units", response_model=CommandOut, summary="Enrol units")
def enrol_units(cycle_id: UUID, body: EnrolmentIn, request: Request, parindex: ParIndexDep,
                actor: ActorDep) -> Response:
    """Enrol units and open their scorecards in one transaction."""
    return command_response(parindex.enrol_units(
        actor, cycle_id, [u.model_dump() for u in body.units],
        expected_version=expected_version(request)))


@router.post("/{cycle_id}/appraisers", response_model=CommandOut,
             summary="Assign an appraiser")
def assign_appraiser(cycle_id: UUID, body: AppraiserAssignmentIn, request: Request,
                     parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.assign_appraiser(
        actor, cycle_id, body.appraiser_id, body.unit_codes,
        expected_version=expected_version(request)))


@router.post("/{cycle_id}/phase", response_model=CommandOut, summary="Advance the phase")
def advance_phase(cycle_id: UUID, body: PhaseIn, request: Request, parindex: ParIndexDep,
                  actor: ActorDep) -> Response:
    """Move to the next phase once every scorecard is ready for it (the refusal lists what
    is missing)."""
    return command_response(parindex.advance_phase(
        actor, cycle_id, Phase(body.to_phase), expected_version=expected_version(request)))


@router.post("/{cycle_id}/extensions", response_model=CommandOut,
             summary="Extend one unit's deadline")
def extend_deadline(cycle_id: UUID, body: ExtensionIn, request: Request,
                    parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.extend_deadline(
        actor, cycle_id, body.unit_code, Phase(body.phase), body.until, body.reason,
        expected_version=expected_version(request)))


@router.post("/{cycle_id}/overdue-locks", summary="Lock overdue scorecards")
def lock_overdue(cycle_id: UUID, parindex: ParIndexDep, actor: ActorDep) -> dict[str, list[str]]:
    """Lock, as they stand, the drafts whose self-assessment deadline has passed."""
    return {"locked_units": parindex.lock_overdue_scorecards(actor, cycle_id)}


@router.post("/{cycle_id}/survey-points", summary="Apply survey points")
def apply_survey_points(cycle_id: UUID, body: SurveyPointsIn, parindex: ParIndexDep,
                        actor: ActorDep) -> dict[str, int | None]:
    """Apply one import's points to every scorecard it covers, all or nothing."""
    position = parindex.apply_survey_points(
        actor, cycle_id, body.survey_import_id,
        [row.model_dump(mode="json") for row in body.results])
    return {"position": position}


@router.post("/{cycle_id}/approval", response_model=CommandOut, tags=["council"],
             summary="Council approval")
def approve_results(cycle_id: UUID, body: ApprovalIn, request: Request,
                    parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.approve_results(
        actor, cycle_id, body.decision_ref, body.note,
        expected_version=expected_version(request)))


@router.post("/{cycle_id}/publication", response_model=CommandOut,
             summary="Publish the approved results")
def publish_results(cycle_id: UUID, body: PublicationIn, request: Request,
                    parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.publish_results(
        actor, cycle_id, body.decision_ref, body.decision_date,
        expected_version=expected_version(request)))
