"""Integrity routes for inspectors: the signed checkpoints of the event log and RFC 6962 proofs.

An inspector keeps a checkpoint outside the system (`GET /checkpoints/latest`, or
`parindex checkpoint export`), later asks for an inclusion proof of any event or a consistency
proof between two checkpoints, and checks them offline (`parindex proof check`, or any RFC 6962
implementation: leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right); the entry
encoding is in docs/integrity.md). Nothing here needs to be trusted: a wrong answer fails the
offline check.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.auth import ActorDep, require_roles
from api.deps import ParIndexDep
from api.errors import PROBLEMS
from domain.actors import Role
from domain.errors import InvalidInput, NotFound
from domain.store.checkpoints import Checkpoint
from domain.store.integrity import ProofService, TamperDetected, stored_checkpoints

router = APIRouter(prefix="/api/v1/integrity", tags=["integrity"],
                   responses={k: PROBLEMS[k] for k in (401, 403, 404, 422)})

READERS = (Role.INSPECTOR, Role.SECRETARIAT, Role.COUNCIL)
_lock = threading.Lock()


def _proofs(request: Request, parindex: Any) -> ProofService:
    """This process's proof service (its in-memory tree is synced on every use)."""
    with _lock:
        service = getattr(request.app.state, "integrity_proofs", None)
        if service is None or service.recorder is not parindex.recorder:
            service = ProofService(parindex.recorder)
            request.app.state.integrity_proofs = service
        return service


def _tampered(error: TamperDetected) -> JSONResponse:
    """An RFC 9457 problem: the stored log no longer agrees with its integrity rows."""
    return JSONResponse({"type": "/problems/integrity-failure", "title": "Integrity failure",
                         "status": 500, "detail": f"the stored log fails its integrity check: "
                                                  f"{error}; run `parindex verify`",
                         "position": error.position},
                        status_code=500, media_type="application/problem+json")


@router.get("/head", summary="The log's current tree head (unsigned) and newest checkpoint")
def head(actor: ActorDep, parindex: ParIndexDep, request: Request) -> Any:
    """Size, last position, Merkle root and chain hash of the whole log as stored now, and the
    newest signed checkpoint."""
    require_roles(actor, *READERS)
    try:
        return _proofs(request, parindex).head()
    except TamperDetected as error:
        return _tampered(error)


@router.get("/checkpoints", summary="Signed checkpoints, newest first")
def list_checkpoints(actor: ActorDep, parindex: ParIndexDep,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100
                     ) -> list[dict[str, Any]]:
    require_roles(actor, *READERS)
    return [cp.to_dict() for cp in stored_checkpoints(parindex.recorder, limit)]


@router.get("/checkpoints/latest", summary="The newest signed checkpoint")
def latest(actor: ActorDep, parindex: ParIndexDep) -> dict[str, Any]:
    """Keep this JSON outside the system: every later log must be an append-only extension of
    it (`parindex verify --checkpoint FILE`)."""
    require_roles(actor, *READERS)
    found = stored_checkpoints(parindex.recorder, 1)
    if not found:
        raise NotFound("no checkpoint has been signed yet")
    return found[0].to_dict()


@router.get("/checkpoints/{tree_size}", summary="The signed checkpoint of one size")
def checkpoint(tree_size: int, actor: ActorDep, parindex: ParIndexDep) -> dict[str, Any]:
    require_roles(actor, *READERS)
    text = parindex.recorder.checkpoint_document(tree_size)
    if text is None:
        raise NotFound(f"no checkpoint of size {tree_size}", field="tree_size")
    return Checkpoint.from_json(text).to_dict()


@router.get("/inclusion", summary="Proof that an event is in the log")
def inclusion(actor: ActorDep, parindex: ParIndexDep, request: Request,
              position: Annotated[int, Query(ge=1, description="the event's global position")],
              tree_size: Annotated[int | None, Query(ge=1, description=(
                  "prove against the tree of this many entries (default: the newest "
                  "checkpoint that covers the event, else the whole log)"))] = None) -> Any:
    """The event's stored entry (id, version, topic, state in base64), its leaf index and hash,
    the RFC 6962 audit path and the root it leads to, and the signed checkpoint of that size
    when there is one."""
    require_roles(actor, *READERS)
    try:
        return _proofs(request, parindex).inclusion(position, tree_size)
    except LookupError as error:
        raise NotFound(str(error), field="position") from None
    except ValueError as error:
        raise InvalidInput(str(error), field="tree_size") from None
    except TamperDetected as error:
        return _tampered(error)


@router.get("/consistency", summary="Proof that a later log extends an earlier one")
def consistency(actor: ActorDep, parindex: ParIndexDep, request: Request,
                first: Annotated[int, Query(ge=1, description="the earlier tree size")],
                second: Annotated[int | None, Query(ge=1, description=(
                    "the later tree size (default: the newest checkpoint, else the whole "
                    "log)"))] = None) -> Any:
    """Both roots, the RFC 6962 consistency proof, and the signed checkpoints of both sizes
    when there are some."""
    require_roles(actor, *READERS)
    try:
        return _proofs(request, parindex).consistency(first, second)
    except ValueError as error:
        raise InvalidInput(str(error), field="second") from None
    except TamperDetected as error:
        return _tampered(error)


@router.get("/status", summary="The integrity monitor and checkpointer of this process")
def status(actor: ActorDep, request: Request) -> dict[str, Any]:
    """What the periodic verification last found, and the checkpointer's last round (null
    when this process runs none)."""
    require_roles(actor, *READERS)
    monitor = getattr(request.app.state, "integrity_monitor", None)
    checkpointer = getattr(request.app.state, "checkpointer", None)
    return {"monitor": monitor.status() if monitor is not None else None,
            "checkpointer": checkpointer.status() if checkpointer is not None else None}
