"""Authentication: who is calling, from the bearer token, never from the request body.

Tokens are issued with `parindex token create` and stored only as a SHA-256 hash (see
`domain/access`); a deployment may also accept its identity provider's JWTs (`api/jwt.py`).
Every route that reads or writes takes `ActorDep`; a missing, unknown or revoked token is a 401
problem with `WWW-Authenticate: Bearer`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.actors import Actor, Role

bearer = HTTPBearer(auto_error=False, description="A token from `parindex token create`.")


class Unauthenticated(Exception):
    """No valid credentials came with the request."""


class Forbidden(Exception):
    """The actor may not see or do this (worded so as not to reveal whether it exists)."""


def current_actor(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Security(bearer)]) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("send Authorization: Bearer <token>")
    secret = credentials.credentials
    verifier = request.app.state.jwt
    if verifier is not None and secret.count(".") == 2:
        actor = verifier.actor(secret)
    else:
        actor = request.app.state.parindex.authenticate(secret)
    if actor is None:
        raise Unauthenticated("the token is unknown or revoked")
    request.state.actor = actor  # the access log's `actor` (api/observability.py)
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def require_roles(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        raise Forbidden(f"this needs one of the roles {', '.join(r.value for r in roles)}")
