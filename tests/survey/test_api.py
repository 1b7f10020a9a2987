"""The survey routes over HTTP, with bearer tokens: secretariat only, multipart upload, dry run,
row-level problems, decisions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes import surveys
from domain.actors import Actor, Role
from tests.builders import cycle_with_units
from tests.survey.helpers import HEADER, respondents, sipas_mapping, standard_file, table

OPERATOR = Actor("cli:test", Role.SYSTEM)


@pytest.fixture
def client(app, tmp_path, monkeypatch) -> Iterator[TestClient]:
    monkeypatch.setenv("PARINDEX_BLOB_DIR", str(tmp_path / "blobs"))
    monkeypatch.setenv("PARINDEX_SURVEY_MAX_BYTES", "20000")
    http = create_app(app)
    if not any(getattr(r, "path", "") == "/api/v1/survey-mappings" for r in http.routes):
        http.include_router(surveys.router)  # until api/app.py includes it
    with TestClient(http) as test_client:
        yield test_client


def bearer(app, role: Role, unit: str | None = None) -> dict[str, str]:
    secret, _ = app.issue_token(OPERATOR, f"{role.value}.test", role, unit)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def snv(app) -> dict[str, str]:
    return bearer(app, Role.SECRETARIAT)


@pytest.fixture
def cycle(app, client, snv) -> str:
    scenario = cycle_with_units(app)
    response = client.post("/api/v1/survey-mappings", json=sipas_mapping(), headers=snv)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1
    return str(scenario.cycle_id)


def upload(client, cycle, headers, content: bytes, name: str = "sipas.csv",
           dry_run: bool = False, **fields: str):
    return client.post(f"/api/v1/cycles/{cycle}/survey-imports",
                       params={"dry_run": "true"} if dry_run else None,
                       files={"file": (name, content, "text/csv")},
                       data={"mapping": "SO-SIPAS", **fields}, headers=headers)


def test_the_secretariat_dry_runs_then_imports(app, client, cycle, snv):
    before = app.recorder.max_notification_id()
    dry = upload(client, cycle, snv, standard_file(), dry_run=True)
    assert dry.status_code == 200, dry.text
    assert app.recorder.max_notification_id() == before
    real = upload(client, cycle, snv, standard_file())
    assert real.status_code == 201, real.text
    assert real.headers["X-Event-Position"] == str(app.recorder.max_notification_id())
    body = real.json()
    assert body["status"] == "imported"
    assert {k: v for k, v in dry.json().items() if k not in ("status", "position")} == {
        k: v for k, v in body.items() if k not in ("status", "position")}
    again = upload(client, cycle, snv, standard_file())
    assert again.status_code == 200 and again.json()["status"] == "already_imported"
    report = client.get(f"/api/v1/survey-imports/{body['import_id']}", headers=snv)
    assert report.status_code == 200 and report.json()["recorded_by"] == "secretariat.test"
    rows = client.get(f"/api/v1/survey-imports/{body['import_id']}/units/STC/rows",
                      params={"limit": 3}, headers=snv)
    assert rows.status_code == 200
    assert rows.json()["total_rows"] == 8 and len(rows.json()["rows"]) == 3
    listing = client.get(f"/api/v1/cycles/{cycle}/survey-imports", headers=snv).json()
    assert listing[0]["current"] == body["import_id"]
    mapping = client.get("/api/v1/survey-mappings/SO-SIPAS", headers=snv).json()
    assert mapping["version"] == 1 and mapping["document"]["instrument"] == "SIPAS"


@pytest.mark.parametrize("role", [Role.APPRAISER, Role.COUNCIL, Role.INSPECTOR,
                                  Role.UNIT_OFFICER])
def test_other_roles_get_403(app, client, cycle, role):
    headers = bearer(app, role, "STC" if role is Role.UNIT_OFFICER else None)
    before = app.recorder.max_notification_id()
    assert upload(client, cycle, headers, standard_file(), dry_run=True).status_code == 403
    assert client.post("/api/v1/survey-mappings", json=sipas_mapping(code="X"),
                       headers=headers).status_code == 403
    assert client.get("/api/v1/survey-mappings/SO-SIPAS", headers=headers).status_code == 403
    assert app.recorder.max_notification_id() == before


def test_without_a_token_it_is_401(client, cycle):
    assert upload(client, cycle, {}, standard_file()).status_code == 401


def test_a_bad_file_is_a_problem_naming_rows(app, client, cycle, snv):
    rows = [*respondents("STC", [(5, 5)] * 5), ["X1", "SNV", 7, 5], ["X2", "SXD", 4, 4]]
    response = upload(client, cycle, snv, table(HEADER, rows))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/survey-rejected" and problem["field"] == "file"
    assert problem["error_count"] == 2
    assert [(e["row"], e["column"], e["code"]) for e in problem["errors"]] == [
        (7, "Q1", "off-scale"), (8, "unit_code", "unknown-unit")]
    assert "row 7" in problem["detail"]


def test_a_file_over_the_limit_is_413(client, cycle, snv):
    big = table(HEADER, [[f"R{i}", "STC", 5, 5] for i in range(3000)])
    assert len(big) > 20000
    response = upload(client, cycle, snv, big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "file-too-large"


def test_decisions_and_mapping_revisions_over_http(app, client, cycle, snv):
    small = table(HEADER, respondents("STC", [(5, 5)] * 2) + respondents("SNV", [(4, 4)] * 6))
    body = upload(client, cycle, snv, small).json()
    assert body["insufficient_sample"][0]["unit_code"] == "STC"
    url = f"/api/v1/survey-imports/{body['import_id']}/decisions"
    missing_reason = client.post(url, json={"unit_code": "STC", "decision": "apply_anyway",
                                            "reason": ""}, headers=snv)
    assert missing_reason.status_code == 422
    decided = client.post(url, json={"unit_code": "STC", "item_code": "8.2",
                                     "decision": "set_points", "points": "2.5",
                                     "reason": "Biên bản 02/BB-HĐ"}, headers=snv)
    assert decided.status_code == 200, decided.text
    assert decided.json()["pending"] == []
    revised = client.post("/api/v1/survey-mappings/SO-SIPAS/versions",
                          json={"document": sipas_mapping(min_valid_n=2), "reason": "n ≥ 2"},
                          headers=snv)
    assert revised.status_code == 200 and revised.json()["version"] == 2
    unknown = client.get("/api/v1/survey-imports/00000000-0000-0000-0000-000000000000",
                         headers=snv)
    assert unknown.status_code == 404
