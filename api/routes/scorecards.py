"""Scorecard acts: self-assessment, evidence, submission, appraisal, explanations, bonus and
penalty, corrections. Each takes `If-Match: "<version>"` to write only over the version read."""

from __future__ import annotations

import os
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile

from api.auth import ActorDep
from api.deps import ParIndexDep
from api.errors import PROBLEMS
from api.http import StrictRoute, command_response, expected_version
from api.media import sniff
from api.schemas import (
    AppraisalIn,
    BonusPenaltyIn,
    CommandOut,
    CorrectionIn,
    EvidenceOut,
    ExplanationIn,
    ReasonIn,
    SelfScoresIn,
)
from domain.errors import InvalidInput
from domain.scorecard.model import AppraisalEntry, SelfScoreEntry
from domain.scorecard.state import Decision

router = APIRouter(prefix="/api/v1/scorecards", responses=PROBLEMS,
                   route_class=StrictRoute)
CHUNK = 1 << 16


def max_upload_bytes() -> int:
    return int(os.environ.get("PARINDEX_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024)))


@router.post("/{scorecard_id}/self-scores", response_model=CommandOut, tags=["units"],
             summary="Save self-scores")
def record_self_scores(scorecard_id: UUID, body: SelfScoresIn, request: Request,
                       parindex: ParIndexDep, actor: ActorDep) -> Response:
    """Declared values (the method computes the points), points for judgement items, "not
    applicable" and notes, for one or many items; unchanged items write nothing."""
    entries = [SelfScoreEntry(item_code=i.item_code, declared=i.declared, points=i.points,
                              not_applicable=i.not_applicable, note=i.note) for i in body.items]
    return command_response(parindex.record_self_scores(actor, scorecard_id, entries,
                                                        expected_version(request)))


@router.post("/{scorecard_id}/evidence", status_code=201, response_model=EvidenceOut,
             tags=["units"], summary="Upload evidence for an item")
def upload_evidence(scorecard_id: UUID, request: Request, parindex: ParIndexDep,
                    actor: ActorDep, item_code: Annotated[str, Form(min_length=1)],
                    file: Annotated[UploadFile, File()]) -> EvidenceOut:
    """Multipart upload (limit PARINDEX_MAX_UPLOAD_BYTES, default 50 MB). The SHA-256 is
    computed while the file streams into the content-addressed store; the media type is read
    from the bytes and must be a document or image."""
    limit = max_upload_bytes()
    declared_length = request.headers.get("content-length")
    if declared_length and declared_length.isdigit() and int(declared_length) > limit + 65536:
        raise InvalidInput(f"the file exceeds the limit of {limit} bytes", field="file")
    head = file.file.read(4096)
    file.file.seek(0)
    whole = None
    if head.startswith(b"PK\x03\x04"):
        whole = file.file.read(limit + 1)
        file.file.seek(0)
    media_type = sniff(head, whole)
    if media_type is None:
        raise InvalidInput("the file is not a PDF, image, office document or text file",
                           field="file")
    if not head:
        raise InvalidInput("the file is empty", field="file")
    blob = request.app.state.blobs.put(iter(lambda: file.file.read(CHUNK), b""), limit)
    result = parindex.attach_evidence(actor, scorecard_id, item_code, blob,
                                      file.filename or "evidence", media_type,
                                      expected_version=expected_version(request))
    return EvidenceOut(scorecard_id=scorecard_id, item_code=item_code, sha256=blob.sha256,
                       size=blob.size, media_type=media_type,
                       file_name=file.filename or "evidence", version=result.version,
                       position=result.position)


@router.post("/{scorecard_id}/evidence/{item_code}/{sha256}/withdrawal",
             response_model=CommandOut, tags=["units"], summary="Withdraw evidence")
def withdraw_evidence(scorecard_id: UUID, item_code: str, sha256: str, body: ReasonIn,
                      request: Request, parindex: ParIndexDep, actor: ActorDep) -> Response:
    """Unlink a file from an item (the bytes stay in the store, and in history)."""
    return command_response(parindex.withdraw_evidence(
        actor, scorecard_id, item_code, sha256, body.reason,
        expected_version=expected_version(request)))


@router.post("/{scorecard_id}/submission", response_model=CommandOut, tags=["units"],
             summary="Submit the self-assessment (unit head)")
def submit(scorecard_id: UUID, request: Request, parindex: ParIndexDep,
           actor: ActorDep) -> Response:
    return command_response(parindex.submit_self_assessment(actor, scorecard_id,
                                                            expected_version(request)))


@router.post("/{scorecard_id}/appraisals", response_model=CommandOut, tags=["appraisers"],
             summary="Appraise items (round 1 or 2)")
def appraise(scorecard_id: UUID, body: AppraisalIn, request: Request, parindex: ParIndexDep,
             actor: ActorDep) -> Response:
    """Accept (keep the points standing before this round) or adjust (points or re-entered
    declared values, with a reason); round 1 may request an explanation."""
    entries = [AppraisalEntry(item_code=i.item_code, decision=Decision(i.decision),
                              points=i.points, declared=i.declared, reason=i.reason,
                              request_explanation=i.request_explanation) for i in body.items]
    return command_response(parindex.appraise(actor, scorecard_id, body.round, entries,
                                              expected_version(request)))


@router.post("/{scorecard_id}/appraisals/{round_}/remaining-accepted",
             response_model=CommandOut, tags=["appraisers"],
             summary="Accept every item still waiting in a round")
def accept_remaining(scorecard_id: UUID, round_: Annotated[int, Path(ge=1, le=2)],
                     request: Request,
                     parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.accept_remaining(
        actor, scorecard_id, round_, expected_version=expected_version(request)))


@router.post("/{scorecard_id}/explanations", response_model=CommandOut, tags=["units"],
             summary="Explain an item")
def explain(scorecard_id: UUID, body: ExplanationIn, request: Request, parindex: ParIndexDep,
            actor: ActorDep) -> Response:
    """Only for items appraised below the self-score or flagged, inside the window."""
    return command_response(parindex.explain(actor, scorecard_id, body.item_code, body.text,
                                             expected_version=expected_version(request)))


@router.post("/{scorecard_id}/bonuses", response_model=CommandOut, tags=["appraisers"],
             summary="Award bonus points")
def award_bonus(scorecard_id: UUID, body: BonusPenaltyIn, request: Request,
                parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.award_bonus(
        actor, scorecard_id, body.entry_id, body.points, body.reason,
        expected_version=expected_version(request)))


@router.post("/{scorecard_id}/penalties", response_model=CommandOut, tags=["appraisers"],
             summary="Impose penalty points")
def impose_penalty(scorecard_id: UUID, body: BonusPenaltyIn, request: Request,
                   parindex: ParIndexDep, actor: ActorDep) -> Response:
    return command_response(parindex.impose_penalty(
        actor, scorecard_id, body.entry_id, body.points, body.reason,
        expected_version=expected_version(request)))


@router.post("/{scorecard_id}/bonus-penalty/{entry_id}/withdrawal", response_model=CommandOut,
             tags=["appraisers"], summary="Withdraw a bonus or penalty entry")
def withdraw_bonus_or_penalty(scorecard_id: UUID, entry_id: str, body: ReasonIn,
                              request: Request, parindex: ParIndexDep,
                              actor: ActorDep) -> Response:
    return command_response(parindex.withdraw_bonus_or_penalty(
        actor, scorecard_id, entry_id, body.reason, expected_version=expected_version(request)))


@router.post("/{scorecard_id}/corrections", response_model=CommandOut, tags=["secretariat"],
             summary="Correct published points")
def correct(scorecard_id: UUID, body: CorrectionIn, request: Request, parindex: ParIndexDep,
            actor: ActorDep) -> Response:
    """After publication only: new points with a reason and the decision behind them."""
    return command_response(parindex.correct_points(
        actor, scorecard_id, body.item_code, body.points, body.reason, body.decision_ref,
        expected_version=expected_version(request)))
