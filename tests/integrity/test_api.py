"""The proof endpoints, with an inspector's token; their answers check offline."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import integrity as integrity_routes
from domain.actors import Actor, Role
from domain.store.checkpoints import Checkpoint
from domain.store.integrity import check_consistency, check_inclusion
from tests.integrity.helpers import RawStore, checkpointer, fill

PREFIX = "/api/v1/integrity"


def http_app(app):
    api = create_app(app)
    if not any(getattr(route, "path", "").startswith(PREFIX) for route in api.routes):
        api.include_router(integrity_routes.router)  # until api/app.py includes it
    return api


def test_inspectors_get_checkpoints_and_proofs_that_check_offline(app, tmp_path):
    positions = fill(app, 5)
    signer = checkpointer(app, tmp_path)
    first = signer.run_once(force=True)
    secret, _ = app.issue_token(Actor("cli:test", Role.SYSTEM), "insp", Role.INSPECTOR)
    officer_secret, _ = app.issue_token(Actor("cli:test", Role.SYSTEM), "cb", Role.UNIT_OFFICER,
                                        "STC")
    inspector = {"Authorization": f"Bearer {secret}"}
    with TestClient(http_app(app)) as client:
        latest = client.get(f"{PREFIX}/checkpoints/latest", headers=inspector)
        assert latest.status_code == 200, latest.text
        held = Checkpoint.from_dict(latest.json())
        assert held == first

        proof = client.get(f"{PREFIX}/inclusion", params={"position": positions[2]},
                           headers=inspector)
        assert proof.status_code == 200, proof.text
        assert proof.json()["tree_size"] == held.tree_size
        assert check_inclusion(proof.json(), held) == positions[2]

        fill(app, 3, prefix="more")
        second = signer.run_once(force=True)
        listed = client.get(f"{PREFIX}/checkpoints", headers=inspector).json()
        assert [c["tree_size"] for c in listed] == [second.tree_size, first.tree_size]
        by_size = client.get(f"{PREFIX}/checkpoints/{first.tree_size}", headers=inspector)
        assert Checkpoint.from_dict(by_size.json()) == first
        consistency = client.get(f"{PREFIX}/consistency", params={"first": first.tree_size},
                                 headers=inspector)
        assert consistency.status_code == 200, consistency.text
        check_consistency(consistency.json(), held, Checkpoint.from_dict(
            consistency.json()["second_checkpoint"]))

        head = client.get(f"{PREFIX}/head", headers=inspector).json()
        assert head["tree_size"] == second.tree_size and head["log_id"] == first.log_id
        assert client.get(f"{PREFIX}/status", headers=inspector).json() == {
            "monitor": None, "checkpointer": None}

        missing = client.get(f"{PREFIX}/inclusion", params={"position": 10_000},
                             headers=inspector)
        assert missing.status_code == 404
        assert client.get(f"{PREFIX}/consistency", params={"first": 99},
                          headers=inspector).status_code == 422
        assert client.get(f"{PREFIX}/head").status_code == 401
        assert client.get(f"{PREFIX}/head", headers={
            "Authorization": f"Bearer {officer_secret}"}).status_code == 403

        RawStore(app).run(("UPDATE {events} SET state = ? WHERE {pos} = ?",
                           (b"{}", positions[0])))
        tampered = client.get(f"{PREFIX}/inclusion", params={"position": positions[0]},
                              headers=inspector)
        assert tampered.status_code == 500
        assert tampered.json()["type"] == "/problems/integrity-failure"
        assert tampered.json()["position"] == positions[0]
