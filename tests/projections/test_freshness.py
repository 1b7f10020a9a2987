"""Freshness: a read can wait (bounded) for its own write, and status() tells how far behind the
views are."""

from __future__ import annotations

import time

import pytest

from projections.queries import NotYetVisible
from tests.builders import APPRAISER, cycle_with_units
from tests.projections.helpers import head_of, live_runner


def test_wait_for_returns_once_the_runner_reaches_the_position(app, read_model):
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    scenario.to_appraisal_1()
    written = head_of(app)

    # No runner yet: no generation, nothing visible; the wait is bounded.
    assert read_model.status() == {"view": "scoreboard", "generation": None,
                                   "pending_generation": None, "position": 0,
                                   "head": written, "lag": written}
    assert read_model.wait_for(None) == 0
    started = time.monotonic()
    with pytest.raises(NotYetVisible) as missing:
        read_model.wait_for(written, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 1.5
    assert (missing.value.wanted, missing.value.reached) == (written, 0)

    with live_runner(app, read_model.views):
        assert read_model.wait_for(written, timeout=20) == written
        assert read_model.status() == {"view": "scoreboard", "generation": 1,
                                       "pending_generation": None, "position": written,
                                       "head": written, "lag": 0}
        # A write, then a read that waits for it: it sees the write.
        result = app.award_bonus(APPRAISER, scenario.scorecards["STC"], "b1", "1", "Sáng kiến")
        assert read_model.wait_for(result.position, timeout=20) >= result.position
        assert "b1" in read_model.scorecard(scenario.scorecards["STC"])["bonus_entries"]
        assert read_model.wait_for(result.position - 5, timeout=0) == result.position

    # The runner stopped: new writes make the views lag, and waiting for them times out.
    reached = head_of(app)
    for index in range(3):
        app.impose_penalty(APPRAISER, scenario.scorecards["SNV"], f"p{index}", "0.25", "Trễ")
    status = read_model.status()
    assert (status["position"], status["head"], status["lag"]) == (reached, reached + 3, 3)
    started = time.monotonic()
    with pytest.raises(NotYetVisible) as missing:
        read_model.wait_for(reached + 3, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert (missing.value.wanted, missing.value.reached) == (reached + 3, reached)
    assert "p0" not in read_model.scorecard(scenario.scorecards["SNV"])["penalty_entries"]

    with live_runner(app, read_model.views):
        assert read_model.wait_for(reached + 3, timeout=20) == reached + 3
        assert read_model.status()["lag"] == 0
