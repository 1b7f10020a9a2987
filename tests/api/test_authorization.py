"""The authorization matrix: every role against every endpoint.

"allowed" means the request got past authentication and authorization (any status but 401 and
403: the domain may still refuse it for its phase, with 409); "denied" means 403; "anonymous"
requests get 401. A unit guessing another unit's scorecard id, or an id that does not exist,
gets the same 403, so existence never leaks."""

import uuid

import pytest

from domain.actors import Role
from tests.builders import cycle_with_units, small_framework

ROLES = ["stc_officer", "stc_head", "snv_officer", "appraiser", "other_appraiser", "council",
         "secretariat", "inspector", "integrator"]
PRIVILEGED = {"council", "secretariat", "inspector"}
PDF = b"%PDF-1.7\n" + b"1" * 100


@pytest.fixture
def world(http):
    scenario = cycle_with_units(http.app, units=("STC", "SNV", "TTT"))
    app = http.app
    tokens = {
        "stc_officer": http.token(Role.UNIT_OFFICER, "STC"),
        "stc_head": http.token(Role.UNIT_HEAD, "STC"),
        "snv_officer": http.token(Role.UNIT_OFFICER, "SNV"),
        "appraiser": http.token(Role.APPRAISER, name="tdd.nguyen-van-a"),
        "other_appraiser": http.token(Role.APPRAISER, name="tdd.khac"),
        "council": http.token(Role.COUNCIL),
        "secretariat": http.token(Role.SECRETARIAT),
        "inspector": http.token(Role.INSPECTOR),
        "integrator": http.token(Role.INTEGRATOR),
        "anonymous": {},
    }
    upload = http.client.post(f"/api/v1/scorecards/{scenario.scorecards['STC']}/evidence",
                              headers=tokens["stc_officer"], data={"item_code": "1.1.1"},
                              files={"file": ("ke-hoach.pdf", PDF, "application/pdf")})
    assert upload.status_code == 201, upload.text
    http.client.get("/api/v1/cycles", headers=tokens["secretariat"],
                    params={"min_position": app.recorder.max_notification_id()})
    return scenario, tokens, upload.json()["sha256"]


def outcome(response) -> str:
    return {401: "anonymous", 403: "denied"}.get(response.status_code, "allowed")


def check(http, tokens, method, path, allowed, **kwargs):
    seen = {}
    for role in [*ROLES, "anonymous"]:
        response = http.client.request(method, path, headers=tokens[role], **kwargs)
        assert response.status_code < 500, (role, path, response.text)
        seen[role] = outcome(response)
    expected = {role: ("allowed" if role in allowed else "denied") for role in ROLES}
    expected["anonymous"] = "anonymous"
    assert seen == expected, path


def test_reads_before_publication(http, world):
    scenario, tokens, sha = world
    stc, cycle = scenario.scorecards["STC"], scenario.cycle_id
    everyone = set(ROLES)
    internal = everyone - {"integrator"}
    check(http, tokens, "GET", "/api/v1/cycles", everyone)
    check(http, tokens, "GET", f"/api/v1/cycles/{cycle}", internal)
    check(http, tokens, "GET", f"/api/v1/cycles/{cycle}/groups/SO/ranking", PRIVILEGED)
    check(http, tokens, "GET", f"/api/v1/cycles/{cycle}/groups/SO/fields/1", PRIVILEGED)
    stc_readers = PRIVILEGED | {"stc_officer", "stc_head", "appraiser"}
    check(http, tokens, "GET", f"/api/v1/scorecards/{stc}", stc_readers)
    check(http, tokens, "GET", f"/api/v1/scorecards/{stc}/explain", stc_readers)
    check(http, tokens, "GET", f"/api/v1/scorecards/{stc}/evidence/{sha}", stc_readers)
    check(http, tokens, "GET", "/api/v1/audit", PRIVILEGED | {"stc_officer", "stc_head",
                                                             "snv_officer"})
    check(http, tokens, "GET", f"/api/v1/scorecards/{stc}", PRIVILEGED,
          params={"as_of_position": 1})
    check(http, tokens, "GET", "/api/v1/feed", everyone)


def test_a_unit_guessing_ids_gets_the_same_refusal_for_real_and_made_up_scorecards(http, world):
    scenario, tokens, _ = world
    real = http.client.get(f"/api/v1/scorecards/{scenario.scorecards['SNV']}",
                           headers=tokens["stc_officer"])
    made_up = http.client.get(f"/api/v1/scorecards/{uuid.uuid4()}",
                              headers=tokens["stc_officer"])
    assert real.status_code == made_up.status_code == 403
    assert real.json() == made_up.json()
    assert http.client.get(f"/api/v1/scorecards/{uuid.uuid4()}",
                           headers=tokens["inspector"]).status_code == 404


def test_a_unit_reading_the_audit_trail_sees_only_its_own_rows(http, world):
    _, tokens, _ = world
    rows = http.client.get("/api/v1/audit", headers=tokens["stc_officer"]).json()["rows"]
    assert rows and {row["unit_code"] for row in rows} == {"STC"}
    other = http.client.get("/api/v1/audit", headers=tokens["stc_officer"],
                            params={"unit_code": "SNV"})
    assert other.status_code == 403


def test_writes_in_self_assessment(http, world):
    scenario, tokens, _ = world
    stc, cycle = scenario.scorecards["STC"], scenario.cycle_id
    one_item = {"items": [{"item_code": "2.4", "points": "1"}]}
    check(http, tokens, "POST", f"/api/v1/scorecards/{stc}/self-scores",
          {"stc_officer", "stc_head"}, json=one_item)
    check(http, tokens, "POST", f"/api/v1/scorecards/{stc}/submission", {"stc_head"})
    check(http, tokens, "POST", f"/api/v1/scorecards/{stc}/appraisals",
          {"appraiser", "council", "secretariat"},
          json={"round": 1, "items": [{"item_code": "2.4", "decision": "accepted"}]})
    check(http, tokens, "POST", f"/api/v1/scorecards/{stc}/bonuses",
          {"appraiser", "council", "secretariat"},
          json={"entry_id": "B1", "points": "1", "reason": "Sáng kiến"})
    check(http, tokens, "POST", f"/api/v1/scorecards/{stc}/explanations",
          {"stc_officer", "stc_head"}, json={"item_code": "2.4", "text": "Giải trình"})
    check(http, tokens, "POST", f"/api/v1/scorecards/{stc}/corrections",
          {"council", "secretariat"}, json={"item_code": "2.4", "points": "1",
                                            "reason": "Sai sót", "decision_ref": "QĐ 1"})
    check(http, tokens, "POST", "/api/v1/frameworks", {"secretariat"},
          json={"document": small_framework(year=2030)})
    check(http, tokens, "POST", f"/api/v1/cycles/{cycle}/phase", {"secretariat"},
          json={"to_phase": "appraisal_round_1"})
    check(http, tokens, "POST", f"/api/v1/cycles/{cycle}/appraisers", {"secretariat"},
          json={"appraiser_id": "tdd.moi", "unit_codes": ["STC"]})
    check(http, tokens, "POST", f"/api/v1/cycles/{cycle}/approval", {"council"},
          json={"decision_ref": "BB 01"})
    check(http, tokens, "POST", f"/api/v1/cycles/{cycle}/publication", {"secretariat"},
          json={"decision_ref": "QĐ 1", "decision_date": "2026-02-14"})
    check(http, tokens, "POST", f"/api/v1/cycles/{cycle}/overdue-locks", {"secretariat"})


def test_after_publication_integrators_read_results_but_not_internals(http, world):
    scenario, tokens, sha = world
    app = http.app
    scenario.publish()
    http.client.get("/api/v1/cycles", headers=tokens["secretariat"],
                    params={"min_position": app.recorder.max_notification_id()})
    stc = scenario.scorecards["STC"]
    everyone = set(ROLES)
    check(http, tokens, "GET", f"/api/v1/cycles/{scenario.cycle_id}/groups/SO/ranking",
          everyone)
    check(http, tokens, "GET", f"/api/v1/scorecards/{stc}", everyone)
    check(http, tokens, "GET", f"/api/v1/scorecards/{stc}/evidence/{sha}",
          PRIVILEGED | {"stc_officer", "stc_head", "appraiser"})
    public = http.client.get(f"/api/v1/scorecards/{stc}", headers=tokens["integrator"]).json()
    item = public["fields"][0]["children"][0]["children"][0]["item"]
    assert "evidence" not in item and "note" not in item
