"""HTTP conventions an integrator relies on: idempotent POSTs, conditional requests, cursors,
the change feed over SSE, strict query parameters, problem+json everywhere."""

from domain.actors import Role
from tests.builders import cycle_with_units

ITEM = {"items": [{"item_code": "2.4", "points": "1"}]}


def test_the_same_idempotency_key_and_body_return_the_stored_response_without_writing(http):
    scenario = cycle_with_units(http.app)
    officer = {**http.token(Role.UNIT_OFFICER, "STC"), "Idempotency-Key": "save-2.4"}
    path = f"/api/v1/scorecards/{scenario.scorecards['STC']}/self-scores"
    first = http.client.post(path, headers=officer, json=ITEM)
    head = http.app.recorder.max_notification_id()
    again = http.client.post(path, headers=officer, json=ITEM)
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replay"] == "true"
    assert http.app.recorder.max_notification_id() == head


def test_the_same_idempotency_key_with_another_body_is_refused(http):
    scenario = cycle_with_units(http.app)
    officer = {**http.token(Role.UNIT_OFFICER, "STC"), "Idempotency-Key": "save-2.4"}
    path = f"/api/v1/scorecards/{scenario.scorecards['STC']}/self-scores"
    http.client.post(path, headers=officer, json=ITEM)
    other = http.client.post(path, headers=officer,
                             json={"items": [{"item_code": "2.4", "points": "0.5"}]})
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-key-reused"


def test_keys_are_scoped_to_the_caller(http):
    scenario = cycle_with_units(http.app)
    path = f"/api/v1/scorecards/{scenario.scorecards['STC']}/self-scores"
    for name in ("a", "b"):
        headers = {**http.token(Role.UNIT_OFFICER, "STC", name=f"stc.{name}"),
                   "Idempotency-Key": "same-key"}
        response = http.client.post(path, headers=headers, json={
            "items": [{"item_code": "2.4", "points": "1" if name == "a" else "0.5"}]})
        assert response.status_code == 200
        assert "idempotent-replay" not in response.headers


def test_an_unknown_query_parameter_is_a_problem_not_silence(http):
    cycle_with_units(http.app)
    response = http.client.get("/api/v1/audit", headers=http.token(Role.INSPECTOR),
                               params={"as_of_postion": 3})
    assert response.status_code == 422
    assert response.json()["field"] == "as_of_postion"
    assert response.headers["content-type"] == "application/problem+json"


def test_405_names_every_method_of_the_path(http):
    response = http.client.delete("/api/v1/cycles", headers=http.token(Role.SECRETARIAT))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


def test_audit_pages_chain_through_opaque_cursors_without_gaps(http):
    scenario = cycle_with_units(http.app)
    scenario.submit_full_marks("STC")
    inspector = http.token(Role.INSPECTOR)
    head = http.app.recorder.max_notification_id()
    everything = http.client.get("/api/v1/audit", headers=inspector,
                                 params={"min_position": head, "limit": 500}).json()["rows"]
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = http.client.get("/api/v1/audit", headers=inspector, params=params).json()
        pages.extend(page["rows"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert not cursor.isdigit()  # opaque
    assert pages == everything and len(everything) > 3
    bad = http.client.get("/api/v1/audit", headers=inspector, params={"cursor": "xyz"})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


def test_the_sse_feed_resumes_after_the_last_event_id(http):
    scenario = cycle_with_units(http.app)
    scenario.publish()
    integrator = http.token(Role.INTEGRATOR)
    with http.client.stream("GET", "/api/v1/feed/stream", headers=integrator,
                            params={"seconds": 1}) as stream:
        text = "".join(stream.iter_text())
    ids = [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]
    assert "event: cycle.results_published" in text
    assert ids == sorted(ids) and len(ids) >= 3
    with http.client.stream("GET", "/api/v1/feed/stream", params={"seconds": 1},
                            headers={**integrator, "Last-Event-ID": str(ids[-2])}) as stream:
        resumed = "".join(stream.iter_text())
    assert [int(line[4:]) for line in resumed.splitlines() if line.startswith("id: ")] == \
        ids[-1:]


def test_views_answer_if_none_match_with_304(http):
    scenario = cycle_with_units(http.app)
    inspector = http.token(Role.INSPECTOR)
    path = f"/api/v1/scorecards/{scenario.scorecards['STC']}"
    first = http.client.get(path, headers=inspector,
                            params={"min_position": http.app.recorder.max_notification_id()})
    again = http.client.get(path, headers={**inspector, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
