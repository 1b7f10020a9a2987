"""api/observability.py: request ids, JSON logs with the request id and the actor, Prometheus
metrics, /livez and /readyz — in-process on a SQLite store, then `parindex serve-workers` with
two worker processes end to end."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.cli import main
from api.commands.migrate import prepare
from api.observability import (
    JsonFormatter,
    install,
    logging_config,
    readiness,
    set_verification_status,
)
from domain.actors import Actor, Role
from domain.application import ParIndex
from projections.store import ViewStore
from tests.deploy.helpers import free_port, parindex_process, request, wait_http
from tests.projections.helpers import open_store, run_to_head

OPERATOR = Actor("cli:test", Role.SYSTEM)
METRIC_NAMES = (
    "parindex_http_requests", "parindex_http_request_duration_seconds", "parindex_store_up",
    "parindex_ready", "parindex_event_head_position", "parindex_events_appended",
    "parindex_projection_position", "parindex_projection_lag_events",
    "parindex_projection_generation", "parindex_projection_rebuilding",
    "parindex_ready_max_lag_events", "parindex_integrity_verification_ok",
    "parindex_integrity_verification_state")


@dataclass
class Served:
    client: TestClient
    web: FastAPI
    app: ParIndex
    views: ViewStore
    logs: io.StringIO

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line]

    def metrics(self) -> dict[str, Any]:
        """name → {labels tuple → value} of every sample."""
        response = self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        out: dict[str, Any] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                key = tuple(sorted(sample.labels.items()))
                out.setdefault(sample.name, {})[key] = sample.value
        return out


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator[Served]:
    monkeypatch.setenv("PARINDEX_BLOB_DIR", str(tmp_path / "blobs"))
    monkeypatch.delenv("PARINDEX_READY_MAX_LAG", raising=False)
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("parindex.access"), logging.getLogger("parindex.test")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        with open_store(f"sqlite:///{tmp_path}/events.sqlite3") as (app, views):
            web = create_app(app, views, None)
            install(web)
            install(web)  # idempotent: one middleware, one set of routes

            @web.get("/test/log")
            def log_inside(request: Request) -> dict[str, str]:
                logging.getLogger("parindex.test").warning("inside the route")
                request.state.actor = Actor("so-noi-vu.test", Role.SECRETARIAT)
                return {}

            with TestClient(web) as client:
                yield Served(client, web, app, views, logs)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def test_livez_answers_without_the_store_and_echoes_the_request_id(served):
    response = served.client.get("/livez", headers={"X-Request-ID": "req-42.a:b"})
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert response.headers["X-Request-ID"] == "req-42.a:b"


def test_a_request_id_is_made_when_missing_or_unsafe(served):
    made = served.client.get("/livez").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    for unsafe in ("has spaces", "x" * 200, "quote\"s"):
        echoed = served.client.get("/livez", headers={"X-Request-ID": unsafe})
        assert re.fullmatch(r"[0-9a-f]{32}", echoed.headers["X-Request-ID"])
    # Every answer carries one, errors and problem documents included.
    missing = served.client.get("/no/such/path", headers={"X-Request-ID": "r-404"})
    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "r-404"


def test_readiness_follows_the_active_generation_the_lag_and_a_rebuild(served):
    def ready() -> tuple[int, dict[str, Any]]:
        response = served.client.get("/readyz")
        return response.status_code, response.json()

    status, body = ready()
    assert status == 503 and "no view generation is active" in body["reasons"][0]

    prepare(served.app)  # what `parindex migrate` does: generation 1, active
    status, body = ready()
    assert (status, body["ready"], body["reasons"], body["max_lag"]) == (200, True, [], 1000)
    assert body["views"]["lag"] == 0

    for index in range(3):
        served.app.issue_token(OPERATOR, f"holder-{index}", Role.INSPECTOR)
    assert ready()[0] == 200  # 3 events behind, within the default bound
    install(served.web, max_lag=2)
    status, body = ready()
    assert status == 503
    assert body["reasons"] == ["the views are 3 events behind the head (bound 2, "
                               "PARINDEX_READY_MAX_LAG)"]
    assert served.metrics()["parindex_ready"][()] == 0
    run_to_head(served.app, served.views)
    assert ready()[0] == 200

    served.views.create_generation(2)
    with served.views.transaction() as cur:
        served.views.set_meta(cur, "pending_generation", "2")
    status, body = ready()
    assert status == 503 and body["reasons"] == ["view generation 2 is being rebuilt"]
    assert served.metrics()["parindex_projection_rebuilding"][()] == 1
    with served.views.transaction() as cur:
        served.views.set_meta(cur, "pending_generation", None)
    assert ready()[0] == 200
    assert served.metrics()["parindex_ready"][()] == 1


def test_the_bound_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PARINDEX_READY_MAX_LAG", "7")
    web = FastAPI()
    install(web)
    assert web.state.ready_max_lag == 7
    monkeypatch.setenv("PARINDEX_READY_MAX_LAG", "lots")
    with pytest.raises(ValueError, match="PARINDEX_READY_MAX_LAG must be a whole number"):
        install(FastAPI())


def test_an_unreachable_store_is_not_ready():
    class Down:
        def status(self) -> dict[str, Any]:
            raise OSError("connection refused")

    web = FastAPI()
    install(web, max_lag=10)
    web.state.read_model = Down()
    ready, body = readiness(web)
    assert not ready
    assert body["reasons"] == ["the store does not answer: OSError: connection refused"]


def test_metrics_count_requests_by_route_template_and_report_the_store(served):
    prepare(served.app)
    for _ in range(2):
        served.app.issue_token(OPERATOR, "reader", Role.INSPECTOR)
    before = served.metrics()
    route = "/api/v1/cycles/{cycle_id}"
    key = (("method", "GET"), ("route", route), ("status", "401"))
    counted = before.get("parindex_http_requests_total", {}).get(key, 0)
    for _ in range(3):  # two different ids, one route label
        served.client.get("/api/v1/cycles/6f1c1c43-8a52-4b61-a7c5-8f4e3a0b9d10")
    served.client.get("/no/such/path")
    after = served.metrics()
    for name in METRIC_NAMES:
        assert any(sample.startswith(name) for sample in after), f"{name} missing"
    assert after["parindex_http_requests_total"][key] == counted + 3
    unmatched = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert after["parindex_http_requests_total"][unmatched] >= 1
    assert after["parindex_http_request_duration_seconds_count"][
        (("method", "GET"), ("route", route))] >= 3
    head = served.app.recorder.max_notification_id()
    assert after["parindex_event_head_position"][()] == head == 2
    assert after["parindex_events_appended_total"][()] == head
    assert after["parindex_projection_lag_events"][()] == head - served.views.position(1)
    assert after["parindex_store_up"][()] == 1
    assert after["parindex_integrity_verification_ok"][()] == -1  # nothing known yet
    assert after["parindex_integrity_verification_state"][(("state", "unknown"),)] == 1


def test_the_verification_status_placeholder_and_a_live_monitor(served):
    set_verification_status(served.web, "ok", True, verified_position=12)
    metrics = served.metrics()
    assert metrics["parindex_integrity_verification_ok"][()] == 1
    assert metrics["parindex_integrity_verification_state"][(("state", "ok"),)] == 1
    assert metrics["parindex_integrity_verified_position"][()] == 12

    class Monitor:  # what domain/store/integrity.py's IntegrityMonitor.status() returns
        def status(self) -> dict[str, Any]:
            return {"state": "failed", "ok": False, "verified_position": 9}

    served.web.state.integrity_monitor = Monitor()
    metrics = served.metrics()
    assert metrics["parindex_integrity_verification_ok"][()] == 0
    assert metrics["parindex_integrity_verification_state"][(("state", "failed"),)] == 1
    with pytest.raises(ValueError):
        set_verification_status(served.web, "fine")


def test_logs_are_json_with_the_request_id_and_the_actor(served):
    secret, _ = served.app.issue_token(OPERATOR, "thanh-tra.le-b", Role.INSPECTOR)
    prepare(served.app)
    run_to_head(served.app, served.views)
    served.client.get("/api/v1/cycles", headers={"Authorization": f"Bearer {secret}",
                                                 "X-Request-ID": "audit-7"})
    served.client.get("/test/log", headers={"X-Request-ID": "inside-1"})
    served.client.get("/api/v1/cycles", headers={"X-Request-ID": "anon-1"})
    lines = served.lines()
    by_id = {(line["request_id"], line["logger"]): line for line in lines}

    access = by_id[("audit-7", "parindex.access")]
    assert access["level"] == "INFO"
    assert (access["method"], access["path"], access["route"], access["status"]) == (
        "GET", "/api/v1/cycles", "/api/v1/cycles", 200)
    assert (access["actor"], access["actor_role"]) == ("thanh-tra.le-b", "inspector")
    assert access["duration_ms"] >= 0 and re.fullmatch(r"\d{4}-.*Z", access["ts"])
    assert secret not in json.dumps(lines)

    inside = by_id[("inside-1", "parindex.test")]  # a record from the route's thread
    assert (inside["message"], inside["level"]) == ("inside the route", "WARNING")
    assert by_id[("inside-1", "parindex.access")]["actor"] == "so-noi-vu.test"

    anonymous = by_id[("anon-1", "parindex.access")]
    assert (anonymous["status"], anonymous["actor"]) == (401, None)


def test_the_logging_config_is_a_dictconfig_for_json_or_text():
    config = logging_config("warning", "json")
    assert config["root"]["level"] == "WARNING"
    assert config["handlers"]["stderr"]["formatter"] == "json"
    assert config["loggers"]["uvicorn.access"]["propagate"] is False
    assert logging_config(fmt="text")["handlers"]["stderr"]["formatter"] == "text"


def test_serve_workers_sums_the_workers_metrics_and_logs_json(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/events.sqlite3"
    monkeypatch.setenv("PARINDEX_DATABASE_URL", url)
    assert main(["migrate"]) == 0
    port, log_path = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    with parindex_process(url, log_path, "serve-workers", "--port", str(port), "--workers",
                          "2", PARINDEX_BLOB_DIR=str(tmp_path / "blobs")) as process:
        wait_http(f"{base}/health", process, log_path)
        for index in range(6):
            status, headers, _ = request("GET", f"{base}/livez",
                                         headers={"X-Request-ID": f"e2e-{index}"})
            assert status == 200 and headers["x-request-id"] == f"e2e-{index}"
            request("GET", f"{base}/health", headers={"X-Request-ID": f"e2e-health-{index}"})
        assert request("GET", f"{base}/readyz")[0] == 200
        wait_for_log(log_path, "Application startup complete.", count=2)
        time.sleep(0.5)  # a worker logs its start-up just before it listens
        burst_ids = keep_alive_burst("127.0.0.1", port, connections=16)
        status, _, body = request("GET", f"{base}/metrics")
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body.decode())
               for s in family.samples}
    livez = (("method", "GET"), ("route", "/livez"), ("status", "200"))
    assert samples[("parindex_http_requests_total", livez)] == 6  # both workers, summed
    assert samples[("parindex_ready", ())] == 1

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    ids = {r.get("request_id") for r in records if r["logger"] == "parindex.access"}
    assert {f"e2e-health-{index}" for index in range(6)} <= ids  # /livez logs at DEBUG
    pids = {r["message"] for r in records if r["message"].startswith("Started server process")}
    assert len(pids) == 2
    # 16 clients connecting at once are spread over both workers (api/listeners.py), not all
    # accepted by whichever worker woke first.
    served_by = {r["pid"] for r in records
                 if r["logger"] == "parindex.access" and r.get("request_id") in burst_ids}
    assert len(served_by) == 2, served_by


def keep_alive_burst(host: str, port: int, connections: int) -> set[str]:
    """Open `connections` keep-alive connections at the same moment (as a load balancer's pool
    or a crowd of clients does), then send one GET /health on each; returns the request ids."""
    import asyncio

    async def burst() -> set[str]:
        opened = await asyncio.gather(*(asyncio.open_connection(host, port)
                                         for _ in range(connections)))
        try:
            for index, (_, writer) in enumerate(opened):
                writer.write(f"GET /health HTTP/1.1\r\nHost: {host}\r\n"
                             f"X-Request-ID: burst-{index}\r\n\r\n".encode())
            for reader, _ in opened:
                assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            return {f"burst-{index}" for index in range(connections)}
        finally:
            for _, writer in opened:
                writer.close()

    return asyncio.run(burst())


def wait_for_log(path: Any, text: str, count: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while path.read_text(errors="replace").count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} not logged {count} times"
        time.sleep(0.1)
