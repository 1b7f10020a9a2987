"""Who acts: an authenticated actor with one role, and a unit for unit roles.

The API builds an `Actor` from the credentials, never from a request body; every event records
the actor's id and role.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from domain.errors import InvalidInput, NotPermitted


class Role(Enum):
    UNIT_OFFICER = "unit_officer"
    UNIT_HEAD = "unit_head"
    APPRAISER = "appraiser"
    COUNCIL = "council"
    SECRETARIAT = "secretariat"
    INSPECTOR = "inspector"
    INTEGRATOR = "integrator"
    SYSTEM = "system"


UNIT_ROLES = frozenset({Role.UNIT_OFFICER, Role.UNIT_HEAD})


@dataclass(frozen=True)
class Actor:
    id: str
    role: Role
    unit_code: str | None = None

    def __post_init__(self) -> None:
        if not self.id.strip():
            raise InvalidInput("actor id is empty", field="actor")
        if self.role in UNIT_ROLES and not self.unit_code:
            raise InvalidInput(f"a {self.role.value} acts for a unit: unit_code is missing",
                               field="actor")

    def require(self, *roles: Role, act: str) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise NotPermitted(f"{act} needs one of the roles {allowed}; actor {self.id} is "
                               f"{self.role.value}")
