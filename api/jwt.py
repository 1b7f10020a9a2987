"""Optional JWT bearer tokens from a deployment's identity provider.

Enabled by `PARINDEX_JWT_ISSUER`; keys come from `PARINDEX_JWKS_FILE` (a JWKS document on
disk) or `PARINDEX_JWKS_URL` (fetched and cached); `PARINDEX_JWT_AUDIENCE` is checked when set.
Claims: `sub` is the actor id recorded on events, `parindex_role` one of the roles, and
`parindex_unit` the unit code for unit roles. Anything missing or invalid is a 401.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt

from domain.actors import Actor, Role
from domain.errors import InvalidInput

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"]


class JwtConfigurationError(Exception):
    """JWT is half configured: refuse to start rather than accept unverifiable tokens."""


class JwtVerifier:
    def __init__(self, issuer: str, audience: str | None, keys: Any):
        self.issuer = issuer
        self.audience = audience
        self._keys = keys  # a PyJWKClient or a PyJWKSet

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JwtVerifier | None:
        environ = os.environ if environ is None else environ
        issuer = environ.get("PARINDEX_JWT_ISSUER", "").strip()
        if not issuer:
            return None
        audience = environ.get("PARINDEX_JWT_AUDIENCE", "").strip() or None
        if path := environ.get("PARINDEX_JWKS_FILE", "").strip():
            try:
                keys = jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text("utf-8")))
            except (OSError, ValueError, jwt.PyJWTError) as error:
                raise JwtConfigurationError(f"PARINDEX_JWKS_FILE {path}: {error}") from None
        elif url := environ.get("PARINDEX_JWKS_URL", "").strip():
            keys = jwt.PyJWKClient(url, cache_keys=True, lifespan=600)
        else:
            raise JwtConfigurationError("PARINDEX_JWT_ISSUER is set: also set "
                                        "PARINDEX_JWKS_FILE or PARINDEX_JWKS_URL")
        return cls(issuer, audience, keys)

    def _key(self, token: str) -> Any:
        if isinstance(self._keys, jwt.PyJWKClient):
            return self._keys.get_signing_key_from_jwt(token).key
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise jwt.InvalidTokenError(f"no key {kid!r} in the JWKS")

    def actor(self, token: str) -> Actor | None:
        """The actor a valid token stands for; None when it is not valid."""
        try:
            claims = jwt.decode(token, self._key(token), algorithms=ALGORITHMS,
                                issuer=self.issuer, audience=self.audience,
                                options={"require": ["exp", "iss", "sub"],
                                         "verify_aud": self.audience is not None})
            role = Role(claims["parindex_role"])
        except (jwt.PyJWTError, KeyError, ValueError):
            return None
        if role is Role.SYSTEM:
            return None
        try:
            return Actor(str(claims["sub"]), role, claims.get("parindex_unit"))
        except InvalidInput:  # e.g. a unit role without a unit
            return None
