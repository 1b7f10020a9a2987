"""One active runner per view set, take-over when it goes away, and the PostgreSQL watchdog that
restarts a stalled subscription (library issue #305: a lost NOTIFY leaves it waiting)."""

from __future__ import annotations

import threading
import time

import pytest

from projections.feeds import SubscriptionFeed
from projections.rebuild import rebuild
from projections.runner import ViewRunner
from tests.builders import APPRAISER, cycle_with_units
from tests.projections.helpers import (
    assert_same_views,
    head_of,
    live_runner,
    open_store,
    pg_connect,
    snapshot,
    view_position,
    wait_caught_up,
    wait_until,
)


def _bonuses(app, scenario, prefix: str, count: int) -> int:
    position = 0
    for index in range(count):
        position = app.award_bonus(APPRAISER, scenario.scorecards["STC"], f"{prefix}{index}",
                                   "0.25", "Sáng kiến").position
    return position


def _in_appraisal(app):
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    scenario.to_appraisal_1()
    return scenario


def test_a_second_runner_waits_then_takes_over_when_the_first_stops(app, views):
    scenario = _in_appraisal(app)
    first = ViewRunner(app, views, idle_seconds=0.05)
    second = ViewRunner(app, views, idle_seconds=0.05)
    first_thread, first_stop = first.start_thread()
    wait_until(lambda: first.lock.held, what="the first runner to hold the lock")
    second_thread, second_stop = second.start_thread()
    try:
        wait_caught_up(app, views)
        _bonuses(app, scenario, "a", 5)
        wait_caught_up(app, views)
        time.sleep(0.6)  # longer than the lock poll of the waiting runner
        assert first.lock.held and not second.lock.held
        assert first.status.events == head_of(app)
        assert (second.status.events, second.status.batches) == (0, 0)

        first_stop.set()
        first_thread.join(10)
        assert not first_thread.is_alive() and not first.lock.held
        events_of_first = first.status.events
        target = _bonuses(app, scenario, "b", 5)
        wait_until(lambda: view_position(views) >= target, what="the second runner")
        assert second.lock.held
        assert second.status.events > 0
        assert first.status.events == events_of_first
        assert second.status.last_error is None
    finally:
        first_stop.set()
        second_stop.set()
        first_thread.join(10)
        second_thread.join(10)
    expected = snapshot(views, 1)
    rebuild(app, views)
    assert_same_views(snapshot(views, 2), expected)


@pytest.mark.postgres
def test_postgres_a_runner_that_lost_its_lock_session_yields_to_the_other(
        postgres_schema_url):
    """The first runner's lock session is terminated by the server (as when its connection
    dies): the waiting runner takes the lock and carries on; the first notices and waits."""
    with open_store(postgres_schema_url) as (app, views):
        scenario = _in_appraisal(app)
        first = ViewRunner(app, views, idle_seconds=0.05)
        second = ViewRunner(app, views, idle_seconds=0.05)
        first_thread, first_stop = first.start_thread()
        wait_until(lambda: first.lock.held, what="the first runner to hold the lock")
        second_thread, second_stop = second.start_thread()
        try:
            wait_caught_up(app, views)
            assert not second.lock.held and second.status.events == 0
            lock_pid = first.lock._held.info.backend_pid
            with pg_connect(app.settings) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)",
                                     (lock_pid,)).fetchone()[0]
            wait_until(lambda: second.lock.held, timeout=10, what="the second runner to take "
                       "over")
            events_of_first = first.status.events
            target = _bonuses(app, scenario, "c", 5)
            wait_until(lambda: view_position(views) >= target, what="the second runner")
            assert second.status.events == 5
            assert first.status.events == events_of_first
            assert first.status.restarts == 1 and "lock" in (first.status.last_error or "")
            wait_until(lambda: not first.lock.held, timeout=5,
                       what="the first runner to drop its dead lock and wait for the lock again")
            assert second.lock.held
        finally:
            first_stop.set()
            second_stop.set()
            first_thread.join(10)
            second_thread.join(10)
        expected = snapshot(views, 1)
        rebuild(app, views)
        assert_same_views(snapshot(views, 2), expected)


# -- the watchdog (PostgreSQL subscriptions) ----------------------------------------------------

class _DeafEvent(threading.Event):
    """Stands in for the subscription's "notified" flag: notifications are lost."""

    def set(self) -> None:
        pass


@pytest.mark.postgres
def test_postgres_watchdog_restarts_a_subscription_that_lost_its_notify(postgres_schema_url):
    with open_store(postgres_schema_url) as (app, views):
        scenario = _in_appraisal(app)
        feeds: list[SubscriptionFeed] = []
        runner = ViewRunner(app, views, idle_seconds=0.05, stall_seconds=1.5)
        make_feed = runner._feed

        def recorded_feed(after: int):
            feeds.append(make_feed(after))
            return feeds[-1]

        runner._feed = recorded_feed  # type: ignore[method-assign]
        thread, stop = runner.start_thread()
        lost = None
        try:
            wait_caught_up(app, views)
            time.sleep(1.6)  # idle for longer than stall_seconds: no reason to restart
            _bonuses(app, scenario, "healthy", 3)
            wait_caught_up(app, views)
            assert runner.status.restarts == 0 and len(feeds) == 1
            time.sleep(1.6)  # quiet again: the stall clock starts when the log moves ahead

            # Lose every NOTIFY from now on: the pull thread waits forever (issue #305).
            subscription = feeds[0].subscription
            lost = subscription._has_been_notified
            subscription._has_been_notified = _DeafEvent()
            stuck_at = view_position(views)
            written_at = time.monotonic()
            target = _bonuses(app, scenario, "lost", 3)
            time.sleep(0.3)
            assert view_position(views) == stuck_at, \
                "the notification was lost: only a restart, after stall_seconds, delivers it"
            wait_until(lambda: runner.status.restarts == 1, timeout=10,
                       what="the watchdog to restart the subscription")
            noticed_after = time.monotonic() - written_at
            assert runner.status.last_error == "stalled subscription"
            # The stall clock starts at the last check that found the runner caught up, at most
            # one idle wait before the write.
            assert noticed_after >= 1.5 - 0.05 - 0.02, "restarted before stall_seconds"
            wait_until(lambda: view_position(views) >= target, what="catch-up after restart")
            assert len(feeds) == 2 and feeds[0].subscription._has_been_stopped

            final = _bonuses(app, scenario, "after", 2)
            wait_until(lambda: view_position(views) >= final, what="tailing after restart")
            assert runner.status.restarts == 1
        finally:
            stop.set()
            thread.join(10)
            if lost is not None:
                lost.set()  # release the abandoned pull thread
        expected = snapshot(views, 1)
        rebuild(app, views)
        assert_same_views(snapshot(views, 2), expected)


@pytest.mark.postgres
def test_postgres_watchdog_nudges_a_subscription_that_missed_its_notifies(postgres_schema_url,
                                                                          monkeypatch):
    """Events whose NOTIFY the subscription never hears (the library LISTENs only after its
    first read) are delivered by the watchdog's own NOTIFY after nudge_seconds, without a
    restart."""
    with open_store(postgres_schema_url) as (app, views):
        scenario = _in_appraisal(app)
        # The subscription listens on a channel no save notifies: every NOTIFY is missed.
        monkeypatch.setattr(app.recorder, "channel_name", "parindex_events_unheard")
        with live_runner(app, views, idle_seconds=0.05, nudge_seconds=0.5,
                         stall_seconds=30) as runner:
            wait_caught_up(app, views)  # the subscription's first read
            written_at = time.monotonic()
            target = _bonuses(app, scenario, "unheard", 3)
            wait_until(lambda: view_position(views) >= target, timeout=10,
                       what="the watchdog's nudge")
            assert time.monotonic() - written_at >= 0.5 - 0.05 - 0.02, \
                "delivered before the nudge: the NOTIFY was not missed"
            assert (runner.status.restarts, runner.status.last_error) == (0, None)


@pytest.mark.postgres
def test_postgres_watchdog_leaves_a_slow_but_healthy_subscription_alone(postgres_schema_url,
                                                                         monkeypatch):
    """After a quiet spell longer than stall_seconds, an event the subscription delivers a
    little late (but well within stall_seconds) is no stall."""
    original_pump = SubscriptionFeed._pump
    slow = threading.Event()

    def slow_pump(self) -> None:
        delivered = self.queue.put

        def late_put(item, *args, **kwargs):
            if slow.is_set():
                time.sleep(0.3)
            delivered(item, *args, **kwargs)

        self.queue.put = late_put  # type: ignore[method-assign]
        original_pump(self)

    monkeypatch.setattr(SubscriptionFeed, "_pump", slow_pump)
    with open_store(postgres_schema_url) as (app, views):
        scenario = _in_appraisal(app)
        with live_runner(app, views, idle_seconds=0.05, stall_seconds=1.0) as runner:
            wait_caught_up(app, views)
            slow.set()
            for round_ in range(2):
                time.sleep(1.2)  # quiet for longer than stall_seconds
                target = _bonuses(app, scenario, f"q{round_}", 1)
                wait_until(lambda t=target: view_position(views) >= t, what="the late event")
            assert runner.status.restarts == 0, runner.status.last_error
