"""Rule 11: two writers on one scorecard. Without a pinned version the server retries on a
conflict; with a stale pinned version the client is told and nothing is written."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from domain.application import ParIndex
from domain.errors import StaleVersion
from domain.scorecard.model import SelfScoreEntry
from domain.store.config import settings_from_url
from tests.app.helpers import rejected
from tests.builders import SECRETARIAT, cycle_with_units, full_marks, new_import_id, officer


class InterleavingClock:
    """Wraps the test clock; the first read runs `interleave` — i.e. another writer commits
    after this command loaded the scorecard and before it saves."""

    def __init__(self, clock, interleave):
        self.clock = clock
        self.interleave = interleave
        self.reads = 0

    def __call__(self):
        self.reads += 1
        if self.reads == 1:
            self.interleave()
        return self.clock()


def test_two_instances_writing_different_items_from_stale_loads_both_succeed(
        app, store_url, clock):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    app.scorecard(card_ref)  # both instances hold the scorecard in their caches
    first = app.record_self_scores(officer("STC"), card_ref,
                                   [SelfScoreEntry("2.3", {"level": "don-vi"})])

    def other_writer():
        app.record_self_scores(officer("STC"), card_ref, [SelfScoreEntry("2.2", {"count": 1})])

    second_clock = InterleavingClock(clock, other_writer)
    second = ParIndex(settings_from_url(store_url), clock=second_clock)
    try:
        second.scorecard(card_ref)
        result = second.record_self_scores(officer("STC"), card_ref,
                                           [SelfScoreEntry("2.4", points="0.5")])
        assert second_clock.reads == 2, "the first attempt should have met a conflict"
        assert result.version == first.version + 2
        for instance in (app, second):
            card = instance.scorecard(card_ref)
            assert card.version == result.version
            assert card.item("2.3").self_points == Decimal("1")
            assert card.item("2.2").self_points == Decimal("1")
            assert card.item("2.4").self_points == Decimal("0.5")
    finally:
        second.close()


def test_a_client_with_a_stale_expected_version_gets_stale_version_and_writes_nothing(app):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    seen = app.scorecard(card_ref).version
    app.record_self_scores(officer("STC"), card_ref, [SelfScoreEntry("2.4", points="1")],
                           expected_version=seen)
    error = rejected(app, StaleVersion, lambda: app.record_self_scores(
        officer("STC"), card_ref, [SelfScoreEntry("2.4", points="0")], expected_version=seen))
    assert (error.expected, error.actual) == (seen, seen + 1)
    assert app.scorecard(card_ref).item("2.4").self_points == Decimal("1")


def test_a_stale_expected_version_on_submission_is_refused(app):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    app.record_self_scores(officer("STC"), card_ref, full_marks()[:-1])
    seen = app.scorecard(card_ref).version
    app.record_self_scores(officer("STC"), card_ref, full_marks()[-1:])
    rejected(app, StaleVersion, lambda: app.submit_self_assessment(
        officer("STC"), card_ref, expected_version=seen))


def test_a_pinned_version_that_loses_the_race_gets_stale_version_and_writes_nothing(
        app, store_url, clock):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]

    def other_writer():
        app.record_self_scores(officer("STC"), card_ref, [SelfScoreEntry("2.2", {"count": 1})])

    second = ParIndex(settings_from_url(store_url), clock=InterleavingClock(clock, other_writer))
    try:
        seen = second.scorecard(card_ref).version
        before = app.recorder.max_notification_id()
        with pytest.raises(StaleVersion) as caught:
            second.record_self_scores(officer("STC"), card_ref,
                                      [SelfScoreEntry("2.4", points="1")], expected_version=seen)
        assert caught.value.expected == seen
        # only the other writer's event was stored; the losing command wrote nothing
        assert app.recorder.max_notification_id() == before + 1
        card = second.scorecard(card_ref)
        assert card.version == seen + 1
        assert card.item("2.2").self_points == Decimal("1")
        assert card.item("2.4").self_points is None
    finally:
        second.close()


def test_concurrent_threads_recording_different_items_on_one_scorecard_all_succeed(app):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    entries = full_marks()[:5]  # at most 4 conflicts per writer: within the 5 attempts
    start = threading.Barrier(len(entries))
    errors: list[BaseException] = []

    def write(entry):
        try:
            start.wait(timeout=10)
            app.record_self_scores(officer("STC"), card_ref, [entry])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(entry,)) for entry in entries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    card = app.scorecard(card_ref)
    assert {code for code, state in card.items.items() if state.self_points is not None} == \
        {entry.item_code for entry in entries}
    assert card.version == 1 + len(entries)


def test_a_command_without_a_pinned_version_outlasts_seven_concurrent_writers(
        app, store_url, clock):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    others = iter(full_marks()[:7])  # seven other writers, each saving one different item

    class EveryReadInterleaves(InterleavingClock):
        def __call__(self):
            entry = next(others, None)
            if entry is not None:
                app.record_self_scores(officer("STC"), card_ref, [entry])
            return self.clock()

    second = ParIndex(settings_from_url(store_url), clock=EveryReadInterleaves(clock, None))
    try:
        second.record_self_scores(officer("STC"), card_ref, [SelfScoreEntry("2.4", points="1")])
        card = second.scorecard(card_ref)
        assert card.version == 1 + 8
    finally:
        second.close()


def test_a_survey_import_meeting_a_concurrent_unit_save_is_retried(app, store_url, clock):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    importer = ParIndex(settings_from_url(store_url), clock=clock)
    load = importer.scorecard
    interleaved = []

    def load_then_let_the_unit_save(ref):
        card = load(ref)
        if not interleaved:
            interleaved.append(ref)
            app.record_self_scores(officer("STC"), card_ref, [SelfScoreEntry("2.4", points="1")])
        return card

    importer.scorecard = load_then_let_the_unit_save
    try:
        importer.apply_survey_points(SECRETARIAT, scenario.cycle_id, new_import_id(),
                                     [{"unit_code": "STC", "item_code": "8.1", "points": "2"}])
        card = app.scorecard(card_ref)
        assert card.item("8.1").survey_points == Decimal("2")
        assert card.item("2.4").self_points == Decimal("1")
    finally:
        importer.close()
