"""`parindex project` killed with SIGKILL in the middle of catching up, again and again, loses
nothing and applies nothing twice: each batch commits with its tracking position or not at all.

Starts worker subprocesses (marker `subprocess`)."""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import time

import pytest

from domain.demo import load_demo
from projections.rebuild import rebuild
from tests.builders import SECRETARIAT
from tests.projections.helpers import (
    assert_same_views,
    count_rows,
    head_of,
    snapshot,
    start_worker,
    view_position,
    wait_until,
)

pytestmark = pytest.mark.subprocess


def _log_tail(path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no output)"


def test_a_worker_killed_mid_batch_resumes_exactly_once(app, views, store_url, tmp_path):
    summary = load_demo(app)
    log_path = tmp_path / "worker.log"
    end = head_of(app)
    kills: list[tuple[int, int]] = []
    jitter = random.Random(7)
    for fraction in (0.2, 0.45, 0.7):
        worker = start_worker(store_url, log_path, "--batch-size", "50")
        try:
            started_at = view_position(views)
            target = max(started_at + 1, int(end * fraction))
            wait_until(lambda t=target, w=worker: view_position(views) >= t
                       or w.poll() is not None, timeout=60, interval=0.002,
                       what=f"the worker to pass position {target}")
            assert worker.poll() is None, f"the worker exited early:\n{_log_tail(log_path)}"
            time.sleep(jitter.uniform(0, 0.02))  # somewhere inside the next batch
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
        assert worker.returncode == -signal.SIGKILL
        kills.append((started_at, view_position(views)))

    # Every kill landed while work remained, and every restart resumed where the last stopped.
    assert all(before < after < end for before, after in kills), kills
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(kills)), kills

    worker = start_worker(store_url, log_path, "--batch-size", "50")
    try:
        wait_until(lambda: view_position(views) >= end or worker.poll() is not None,
                   timeout=60, what="the last worker to catch up")
        # ... and it keeps tailing: a correction written now is folded too.
        card = app.cycle(summary.cycle_ids[2025]).unit(summary.corrected_unit)["scorecard_id"]
        correction = app.correct_points(SECRETARIAT, card, summary.corrected_item, "0",
                                        "Kiểm tra lại hồ sơ", "QĐ 200/QĐ-UBND")
        wait_until(lambda: view_position(views) >= correction.position
                   or worker.poll() is not None, timeout=30, what="the correction folded")
        assert worker.poll() is None, f"the worker exited early:\n{_log_tail(log_path)}"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
    assert worker.returncode == 0, _log_tail(log_path)
    assert "Traceback" not in log_path.read_text(errors="replace"), _log_tail(log_path)

    head_position = head_of(app)
    assert view_position(views) == head_position
    generation = views.active_generation()
    assert generation == 1
    crashed = snapshot(views, generation)
    assert crashed["tracking"] == [("scoreboard", head_position)]
    positions = [row[0] for row in crashed["audit"]]
    assert len(positions) == len(set(positions)), "an event was applied twice"
    assert count_rows(views, "event_times", generation) == head_position

    report = rebuild(app, views)
    assert report.activated and report.events == head_position
    rebuilt = snapshot(views, report.generation)
    assert len(rebuilt["audit"]) == len(crashed["audit"])
    assert_same_views(crashed, rebuilt)
