import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from api.app import create_app
from api.jwt import JwtConfigurationError, JwtVerifier

ISSUER = "https://sso.khanhhoa.gov.vn/realms/cchc"


@pytest.fixture
def signing_key(tmp_path, monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [public]}))
    monkeypatch.setenv("PARINDEX_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("PARINDEX_JWKS_FILE", str(tmp_path / "jwks.json"))
    return key


def token(key, **claims):
    body = {"iss": ISSUER, "sub": "nguyen.van.a@khanhhoa.gov.vn",
            "exp": datetime.now(UTC) + timedelta(minutes=5), "parindex_role": "inspector",
            **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def test_a_valid_identity_provider_token_is_accepted_and_names_the_actor(http, signing_key):
    with TestClient(create_app(http.app, http.views)) as client:
        response = client.get("/api/v1/cycles",
                              headers={"Authorization": f"Bearer {token(signing_key)}"})
    assert response.status_code == 200


@pytest.mark.parametrize("claims", [
    {"iss": "https://evil.example/"},
    {"exp": datetime.now(UTC) - timedelta(minutes=1)},
    {"parindex_role": "emperor"},
    {"parindex_role": "unit_head"},  # a unit role without a unit
    {"parindex_role": "system"},
])
def test_tokens_with_a_wrong_issuer_expiry_or_role_are_refused(http, signing_key, claims):
    with TestClient(create_app(http.app, http.views)) as client:
        response = client.get("/api/v1/cycles", headers={
            "Authorization": f"Bearer {token(signing_key, **claims)}"})
    assert response.status_code == 401


def test_a_token_signed_by_another_key_is_refused(http, signing_key):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with TestClient(create_app(http.app, http.views)) as client:
        response = client.get("/api/v1/cycles",
                              headers={"Authorization": f"Bearer {token(stranger)}"})
    assert response.status_code == 401


def test_an_issuer_without_keys_refuses_to_start():
    with pytest.raises(JwtConfigurationError):
        JwtVerifier.from_env({"PARINDEX_JWT_ISSUER": ISSUER})
