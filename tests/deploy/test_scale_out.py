"""Scale-out on one machine: two API processes (`parindex serve --no-projections` on two
loopback ports) and one projection worker (`parindex project`) on one PostgreSQL schema, under
concurrent self-score writes from loopback clients (two clients per scorecard, so writes
conflict and the server retries them).

Proves: every acknowledged write's position holds exactly that write in the log, positions and
versions are unique, nothing is in the log that was not acknowledged, the views reach the head,
and the views equal a blue/green rebuild (adopted and switched by the live worker) row for row.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest

from domain.actors import Actor, Role
from projections.queries import ReadModel
from projections.rebuild import rebuild
from tests.builders import cycle_with_units
from tests.deploy.helpers import (
    free_port,
    parindex_process,
    request,
    run_parindex,
    wait_http,
)
from tests.projections.helpers import (
    all_events,
    assert_same_views,
    open_store,
    snapshot,
    wait_until,
)

pytestmark = pytest.mark.postgres

OPERATOR = Actor("cli:test", Role.SYSTEM)
UNITS = ("STC", "SNV", "SYT", "SGD")
CLIENTS = 8  # two per scorecard
WRITES_PER_CLIENT = 12
LOAD_SECONDS = 30  # bound: the clients stop early if the writes take longer
SELF_SCORE = "domain.scorecard.model:Scorecard.SelfScoreRecorded"


def test_two_api_processes_and_a_worker_lose_and_duplicate_nothing(postgres_schema_url,
                                                                   tmp_path):
    url = postgres_schema_url
    migrated = run_parindex(url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    with open_store(url) as (app, _):
        scenario = cycle_with_units(app, units=UNITS)
        tokens = {unit: app.issue_token(OPERATOR, f"{unit.lower()}.chuyen-vien",
                                        Role.UNIT_OFFICER, unit)[0] for unit in UNITS}
        setup_head = app.recorder.max_notification_id()
    cards = scenario.scorecards

    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        apis = [stack.enter_context(parindex_process(
            url, tmp_path / f"api-{port}.log", "serve", "--no-projections", "--port",
            str(port), "--log-level", "warning", PARINDEX_BLOB_DIR=str(tmp_path / "blobs")))
            for port in ports]
        worker = stack.enter_context(parindex_process(url, tmp_path / "worker.log", "project"))
        for process, port in zip(apis, ports, strict=True):
            wait_http(f"http://127.0.0.1:{port}/health", process, tmp_path / f"api-{port}.log")

        acks, failures = load(ports, cards, tokens)

        assert not failures, f"{len(failures)} writes failed, e.g. {failures[:3]}"
        assert len(acks) == CLIENTS * WRITES_PER_CLIENT
        assert {ack["port"] for ack in acks} == set(ports), "both API processes served writes"

        with open_store(url) as (app, views):
            check_the_log(app, acks, cards, setup_head)
            head = app.recorder.max_notification_id()
            model = ReadModel(app, views)
            wait_until(lambda: model.status()["position"] == head, 30,
                       "the worker to bring the views to the head")
            assert worker.poll() is None, "the projection worker is still running"
            status = model.status()
            assert (status["lag"], status["pending_generation"]) == (0, None)
            check_views_converged(model, acks, cards)

            live_generation = views.active_generation()
            live = snapshot(views, live_generation)
            report = rebuild(app, views)  # the worker holds the lock: it adopts and switches
            assert not report.activated
            wait_until(lambda: views.active_generation() == report.generation
                       and live_generation not in views.known_generations(), 30,
                       "the live worker to switch to the rebuilt generation and drop the old")
            assert_same_views(snapshot(views, report.generation), live)


def load(ports: list[int], cards: dict[str, Any], tokens: dict[str, str]
         ) -> tuple[list[dict[str, Any]], list[Any]]:
    """CLIENTS threads, each writing WRITES_PER_CLIENT self-scores to one unit's scorecard,
    alternating between the two API processes; every acknowledgement and every failure."""
    acks: list[dict[str, Any]] = []
    failures: list[Any] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LOAD_SECONDS

    def client(number: int) -> None:
        unit = UNITS[number % len(UNITS)]
        for index in range(WRITES_PER_CLIENT):
            if time.monotonic() > deadline:
                with lock:
                    failures.append((number, index, "not sent: the load took too long"))
                return
            port = ports[(number + index) % len(ports)]
            note = f"client-{number}-write-{index}"
            body = {"items": [{"item_code": "2.2", "declared": {"count": index % 3},
                               "note": note}]}
            try:
                status, headers, raw = request(
                    "POST", f"http://127.0.0.1:{port}/api/v1/scorecards/{cards[unit]}"
                    "/self-scores", body, {"Authorization": f"Bearer {tokens[unit]}"})
            except OSError as error:
                with lock:
                    failures.append((number, index, repr(error)))
                continue
            with lock:
                if status != 200:
                    failures.append((number, index, status, raw[:300]))
                    continue
                answer = json.loads(raw)
                assert int(headers["x-event-position"]) == answer["position"]
                acks.append({"unit": unit, "note": note, "port": port, **answer})

    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client, number) for number in range(CLIENTS)]:
            future.result()
    return acks, failures


def check_the_log(app: Any, acks: list[dict[str, Any]], cards: dict[str, Any],
                  setup_head: int) -> None:
    positions = [ack["position"] for ack in acks]
    assert len(set(positions)) == len(positions), "two writes acknowledged one position"
    versions = [(ack["unit"], ack["version"]) for ack in acks]
    assert len(set(versions)) == len(versions), "two writes acknowledged one version"

    stored = {}
    after = 0
    while batch := app.recorder.select_notifications(start=after, limit=1000,
                                                     inclusive_of_start=False):
        stored.update((n.id, n) for n in batch)
        after = batch[-1].id
    for ack in acks:  # every acknowledged write is in the log, at its position, as itself
        notification = stored.get(ack["position"])
        assert notification is not None, f"acknowledged position {ack['position']} is missing"
        assert notification.topic == SELF_SCORE
        assert str(notification.originator_id) == str(cards[ack["unit"]])
        assert notification.originator_version == ack["version"]
        assert ack["note"].encode() in bytes(notification.state)

    # Nothing is in the log that was not acknowledged (no write applied twice).
    written = [position for position, event in all_events(app) if position > setup_head]
    assert sorted(written) == sorted(positions)


def check_views_converged(model: ReadModel, acks: list[dict[str, Any]],
                          cards: dict[str, Any]) -> None:
    for unit, card in cards.items():
        latest = max((ack for ack in acks if ack["unit"] == unit), key=lambda a: a["version"])
        view = model.scorecard(card)
        assert view["version"] == latest["version"]
