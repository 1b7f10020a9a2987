import pytest


@pytest.fixture
def client(http):
    return http.client


def test_health_reports_the_store_and_its_head_position(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["store"]["kind"] in ("sqlite", "postgresql")
    assert body["store"]["head_position"] == 0
    assert body["views"][0]["lag"] == 0


def test_unknown_paths_answer_with_problem_json(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


def test_the_openapi_document_is_3_1_and_lists_health(client):
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "/health" in document["paths"]
