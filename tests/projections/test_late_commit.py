"""A transaction that commits late is not skipped by a tailing runner.

Reading "after the last position" is only safe if no transaction can commit a position lower than
one a reader already passed. The library's table lock (PostgreSQL) and SQLite's single writer
make positions follow commit order; these tests hold one writer's transaction open while a
later-started writer waits, with the runner tailing, and check that every event is folded."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from domain.application import CommandResult, ParIndex
from domain.store.config import settings_from_url
from projections.queries import ReadModel
from tests.builders import APPRAISER, cycle_with_units
from tests.projections.helpers import (
    head_of,
    live_runner,
    open_store,
    pg_connect,
    pg_schema,
    view_position,
    wait_caught_up,
    wait_until,
)

SLEEP_SECONDS = 1.5  # well under the library's lock timeout of 5 s


class Writer(threading.Thread):
    def __init__(self, call):
        super().__init__(daemon=True)
        self.call = call
        self.result: CommandResult | None = None
        self.error: BaseException | None = None
        self.started_at = self.finished_at = 0.0

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            self.result = self.call()
        except BaseException as error:
            self.error = error
        finally:
            self.finished_at = time.monotonic()


def _in_appraisal(app: ParIndex):
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    scenario.to_appraisal_1()
    return scenario


def _assert_both_folded(app: ParIndex, views, scenario, first: Writer, second: Writer) -> None:
    assert first.error is None and second.error is None, (first.error, second.error)
    assert first.result and second.result
    # The later writer waited for the earlier one, and its event comes after.
    assert second.started_at < first.finished_at
    assert first.result.position < second.result.position
    wait_caught_up(app, views)
    read_model = ReadModel(app, views)
    assert read_model.position() == head_of(app) == second.result.position
    stc = read_model.scorecard(scenario.scorecards["STC"])
    snv = read_model.scorecard(scenario.scorecards["SNV"])
    assert "late" in stc["bonus_entries"] and "early" in snv["penalty_entries"]
    positions = [row["position"] for row in read_model.audit(limit=500)["rows"]]
    assert {first.result.position, second.result.position} <= set(positions)


@pytest.mark.postgres
def test_postgres_a_slow_transaction_is_folded_with_the_one_queued_behind_it(
        postgres_schema_url):
    with open_store(postgres_schema_url) as (app, views):
        schema = pg_schema(app.settings)
        table = app.recorder.events_table_name
        scenario = _in_appraisal(app)
        with pg_connect(app.settings) as conn:
            conn.execute(f'CREATE TABLE "{schema}".slow_flag (armed boolean)')
            conn.execute(f'''
                CREATE FUNCTION "{schema}".slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF EXISTS (SELECT 1 FROM "{schema}".slow_flag) THEN
                        DELETE FROM "{schema}".slow_flag;
                        PERFORM pg_sleep({SLEEP_SECONDS});
                    END IF;
                    RETURN NEW;
                END $$''')
            conn.execute(f'CREATE TRIGGER slow_insert BEFORE INSERT ON "{schema}"."{table}" '
                         f'FOR EACH ROW EXECUTE FUNCTION "{schema}".slow_insert()')
            conn.execute(f'INSERT INTO "{schema}".slow_flag VALUES (true)')

            def backends(condition: str) -> list[Any]:
                return conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    f"AND query LIKE %s AND {condition}", (f"%{schema}%",)).fetchall()

            with live_runner(app, views) as runner:
                wait_caught_up(app, views)
                before = view_position(views)
                first = Writer(lambda: app.award_bonus(
                    APPRAISER, scenario.scorecards["STC"], "late", "1", "Sáng kiến"))
                first.start()
                wait_until(lambda: backends("wait_event = 'PgSleep'"),
                           what="writer 1 to sleep inside its insert, holding the table lock")
                second = Writer(lambda: app.impose_penalty(
                    APPRAISER, scenario.scorecards["SNV"], "early", "0.5", "Trễ báo cáo"))
                second.start()
                wait_until(lambda: backends("wait_event_type = 'Lock'"),
                           what="writer 2 to wait for the table lock")
                time.sleep(0.3)  # the runner keeps tailing while writer 1 has not committed
                assert view_position(views) == before
                first.join(10)
                second.join(10)
                _assert_both_folded(app, views, scenario, first, second)
                assert runner.status.last_error is None


def test_sqlite_a_slow_transaction_is_folded_with_the_one_queued_behind_it(tmp_path):
    """Three application instances on one file, as three processes would be: writer 1 holds its
    transaction open after inserting, writer 2 queues behind it, the runner polls."""
    store_url = f"sqlite:///{tmp_path}/events.sqlite3"
    with open_store(store_url) as (app, views):
        _sqlite_slow_writer(app, views, store_url)


def _sqlite_slow_writer(app: ParIndex, views, store_url: str) -> None:
    scenario = _in_appraisal(app)
    slow = ParIndex(settings_from_url(store_url))
    fast = ParIndex(settings_from_url(store_url))
    inserted = threading.Event()
    insert_events = slow.recorder._insert_events

    def insert_then_linger(cursor, stored_events, **kwargs):
        ids = insert_events(cursor, stored_events, **kwargs)
        inserted.set()
        time.sleep(SLEEP_SECONDS)  # inside the write transaction: commits late
        return ids

    slow.recorder._insert_events = insert_then_linger  # type: ignore[method-assign]
    try:
        with live_runner(app, views, idle_seconds=0.01) as runner:
            wait_caught_up(app, views)
            before = view_position(views)
            first = Writer(lambda: slow.award_bonus(
                APPRAISER, scenario.scorecards["STC"], "late", "1", "Sáng kiến"))
            first.start()
            assert inserted.wait(10)
            second = Writer(lambda: fast.impose_penalty(
                APPRAISER, scenario.scorecards["SNV"], "early", "0.5", "Trễ báo cáo"))
            second.start()
            time.sleep(0.3)
            assert view_position(views) == before
            first.join(15)
            second.join(15)
            _assert_both_folded(app, views, scenario, first, second)
            assert runner.status.last_error is None
    finally:
        slow.close()
        fast.close()


def test_concurrent_writers_while_the_runner_tails(app, views):
    """Two writer threads hammer different scorecards while the runner tails in small batches:
    every event is folded once, in order."""
    scenario = _in_appraisal(app)
    results: dict[str, list[int]] = {"STC": [], "SNV": []}

    def write(unit: str, kind: str) -> None:
        for index in range(12):
            call = app.award_bonus if kind == "bonus" else app.impose_penalty
            result = call(APPRAISER, scenario.scorecards[unit], f"{kind}-{index}", "0.25",
                          f"Lần {index}")
            results[unit].append(result.position)

    with live_runner(app, views, batch_size=2, idle_seconds=0.005) as runner:
        writers = [threading.Thread(target=write, args=("STC", "bonus")),
                   threading.Thread(target=write, args=("SNV", "penalty"))]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        wait_caught_up(app, views)
        assert runner.status.last_error is None
    written = sorted(results["STC"] + results["SNV"])
    assert len(set(written)) == 24
    read_model = ReadModel(app, views)
    audit = [row["position"] for row in read_model.audit(limit=500)["rows"]]
    assert set(written) <= set(audit)
    stc = read_model.scorecard(scenario.scorecards["STC"])
    snv = read_model.scorecard(scenario.scorecards["SNV"])
    assert len(stc["bonus_entries"]) == 12 and len(snv["penalty_entries"]) == 12
