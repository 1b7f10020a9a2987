"""The AccessToken aggregate: a bearer token, stored only as its SHA-256.

The secret is shown once when issued and never stored; the aggregate's id is derived from the
hash, so authenticating is one lookup. Revocation is an event, so who could act when is part of
the audit record.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.actors import UNIT_ROLES, Actor, Role
from domain.base import ParAggregate, by
from domain.errors import InvalidInput, NotPermitted

TOKEN_PREFIX = "pxi_"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_id(hashed: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/parindex/tokens/{hashed}")


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class AccessToken(ParAggregate):
    class Issued(ParAggregate.Created):
        token_hash: str
        holder: str
        role: Role
        unit_code: str | None

    class Revoked(ParAggregate.Event):
        reason: str

    @staticmethod
    def create_id(token_hash: str, **_: Any) -> UUID:
        return token_id(token_hash)

    @classmethod
    def issue(cls, actor: Actor, secret: str, holder: str, role: Role,
              unit_code: str | None) -> AccessToken:
        actor.require(Role.SYSTEM, Role.SECRETARIAT, act="issuing access tokens")
        holder = unicodedata.normalize("NFC", holder or "").strip()
        if not holder:
            raise InvalidInput("a token names its holder", field="name")
        if role in UNIT_ROLES and not unit_code:
            raise InvalidInput(f"a {role.value} token needs --unit", field="unit")
        if role not in UNIT_ROLES and unit_code:
            raise InvalidInput(f"a {role.value} token acts for no unit", field="unit")
        if role is Role.SYSTEM:
            raise NotPermitted("system tokens are not issued")
        return cls(token_hash=token_hash(secret), holder=holder, role=role,
                   unit_code=unit_code, **by(actor))

    @event(Issued)
    def __init__(self, token_hash: str, holder: str, role: Role, unit_code: str | None,
                 actor_id: str, actor_role: Role) -> None:
        self.token_hash = token_hash
        self.holder = holder
        self.role = role
        self.unit_code = unit_code
        self.revoked = False

    def revoke(self, actor: Actor, reason: str) -> None:
        actor.require(Role.SYSTEM, Role.SECRETARIAT, act="revoking access tokens")
        if not self.revoked:
            self._revoked(reason=reason.strip() or "revoked", **by(actor))

    @event(Revoked)
    def _revoked(self, reason: str, actor_id: str, actor_role: Role) -> None:
        self.revoked = True

    def actor(self) -> Actor:
        return Actor(self.holder, self.role, self.unit_code)
