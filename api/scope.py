"""Who may read what (decision 9(d) of the domain reference).

- secretariat, council and inspectors read everything, drafts and history included;
- a unit's officer and head read their own unit's scorecard, explanation and audit trail;
- an appraiser reads the scorecards of the units assigned to them;
- everyone (integrators included) reads published results — never drafts, evidence files or
  evaluated-only units.
Refusals never reveal whether another unit's data exists: an unknown id and someone else's id
get the same 403.
"""

from __future__ import annotations

from typing import Any

from api.auth import Forbidden
from domain.actors import UNIT_ROLES, Actor, Role

PRIVILEGED = frozenset({Role.SECRETARIAT, Role.COUNCIL, Role.INSPECTOR})
NOT_YOURS = "this is not among the records your token may read"


def privileged(actor: Actor) -> bool:
    return actor.role in PRIVILEGED


def published(cycle: dict[str, Any]) -> bool:
    return cycle["detail"]["publication"] is not None


def may_read_scorecard(actor: Actor, card: dict[str, Any], cycle: dict[str, Any]) -> bool:
    if may_read_evidence(actor, card, cycle):
        return True  # privileged, the unit itself, or its appraiser
    return published(cycle) and card["ranked"]  # everyone else: the public result


def may_read_evidence(actor: Actor, card: dict[str, Any], cycle: dict[str, Any]) -> bool:
    if privileged(actor):
        return True
    if actor.role in UNIT_ROLES:
        return card["unit_code"] == actor.unit_code
    return actor.role is Role.APPRAISER and actor.id in cycle["detail"]["appraisers"].get(
        card["unit_code"], ())


def require_group_results(actor: Actor, cycle: dict[str, Any]) -> bool:
    """True when the actor sees the full (internal) results; False for the public form.
    Before publication only privileged roles see a group's results."""
    if privileged(actor):
        return True
    if not published(cycle):
        raise Forbidden("results of this cycle are not published yet")
    return False


def require_privileged(actor: Actor, what: str) -> None:
    if not privileged(actor):
        raise Forbidden(f"{what} is for the secretariat, the council and inspectors")


def forbid() -> None:
    raise Forbidden(NOT_YOURS)
