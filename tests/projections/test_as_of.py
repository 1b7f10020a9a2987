"""As-of reads answer exactly what the live views answered at that moment: recorded live while a
cycle is walked through its phases (and a correction after publication), then asked again later,
by position and by time, from the events alone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.cycle.phases import Phase
from domain.errors import InvalidInput, NotFound
from domain.scorecard.model import SelfScoreEntry
from projections.history import aggregates_at, versions_at
from projections.queries import AsOf, ReadModel
from projections.scoreboard import Scoreboard
from tests.builders import cycle_with_units, officer
from tests.projections.helpers import all_events, live_runner, walk


def _read(read_model: ReadModel, scenario, as_of: AsOf | None = None) -> dict[str, Any]:
    cycle, cards = scenario.cycle_id, scenario.scorecards
    return {
        "cycle": read_model.cycle(cycle, as_of),
        "ranking": read_model.ranking(cycle, "SO", as_of),
        "field_1": read_model.field_comparison(cycle, "SO", "1", as_of),
        "field_2": read_model.field_comparison(cycle, "SO", "2", as_of),
        **{f"card_{unit}": read_model.scorecard(cards[unit], as_of) for unit in ("STC", "SNV")},
    }


def test_as_of_position_and_time_match_what_was_read_live(app, read_model):
    previous = cycle_with_units(app, units=("STC", "SNV", "STP"), year=2024)
    previous.publish()  # last year's results feed the ranking's year-on-year columns
    scenario = cycle_with_units(app, units=("STC", "SNV", "STP"), year=2025)
    recorded: dict[str, tuple[int, dict[str, Any]]] = {}
    with live_runner(app, read_model.views):
        for moment, position in walk(scenario):
            read_model.wait_for(position, timeout=20)
            recorded[moment] = position, _read(read_model, scenario)
        assert list(recorded) == ["submitted", "round_1", "council", "published", "corrected"]
        stamps = {position: event.timestamp for position, event in all_events(app)}

        for moment, (position, live) in recorded.items():
            assert live["ranking"]["as_of_position"] == position, moment
            assert _read(read_model, scenario, AsOf(position=position)) == live, moment
            assert _read(read_model, scenario, AsOf(time=stamps[position])) == live, moment
            halfway = stamps[position] + (stamps[position + 1] - stamps[position]) / 2 \
                if position + 1 in stamps else stamps[position] + timedelta(days=1)
            assert _read(read_model, scenario, AsOf(time=halfway)) == live, moment

    # The moments differ where they should: the correction changed STC's item 1.2 and total.
    before = recorded["published"][1]["card_STC"]
    after = recorded["corrected"][1]["card_STC"]
    assert _item(before, "1.2")["final_points"] == "1.00"
    assert _item(after, "1.2")["final_points"] == "1.50"
    assert _item(after, "1.2")["source"] == "correction"
    assert Decimal(after["totals"]["total"]) == Decimal(before["totals"]["total"]) + Decimal("0.5")
    assert recorded["published"][1]["ranking"]["published"]
    assert not recorded["council"][1]["ranking"]["published"]
    assert recorded["submitted"][1]["cycle"]["phase"] == Phase.APPRAISAL_1.value
    assert recorded["corrected"][1]["ranking"]["rows"][0]["previous_rank"] is not None


def _item(card: dict[str, Any], code: str) -> dict[str, Any]:
    def find(nodes):
        for node in nodes:
            if node["code"] == code:
                return node["item"]
            found = find(node.get("children", ()))
            if found:
                return found
        return None

    return find(card["fields"])


def test_as_of_edges(app, read_model):
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    created = app.cycle(scenario.cycle_id).version
    stamps = dict((p, e.timestamp) for p, e in all_events(app))
    with live_runner(app, read_model.views):
        read_model.wait_for(max(stamps), timeout=20)
        # Before the cycle existed: not found, as of a position or a time.
        with pytest.raises(NotFound):
            read_model.cycle(scenario.cycle_id, AsOf(position=2))
        with pytest.raises(NotFound):
            read_model.cycle(scenario.cycle_id, AsOf(time=stamps[1] - timedelta(seconds=1)))
        # Past the head: the head.
        far = read_model.cycle(scenario.cycle_id, AsOf(position=10**9))
        assert far == read_model.cycle(scenario.cycle_id)
        assert far["aggregate_version"] == created
        with pytest.raises(InvalidInput):
            read_model.cycle(scenario.cycle_id, AsOf(position=-1))
        with pytest.raises(InvalidInput):
            read_model.cycle(scenario.cycle_id, AsOf(time=stamps[1].replace(tzinfo=None)))


def test_as_of_time_counts_events_the_views_have_not_folded_yet(app, read_model):
    """The time → position lookup must not depend on how far the views have got: with the
    runner stopped behind the head, a time after the latest event still means the head."""
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    with live_runner(app, read_model.views):
        read_model.wait_for(app.recorder.max_notification_id(), timeout=20)
    folded = read_model.position()
    scenario.to_appraisal_1()  # written while no runner runs
    stamps = dict((p, e.timestamp) for p, e in all_events(app))
    head = max(stamps)
    assert read_model.position() == folded < head
    later = stamps[head] + timedelta(seconds=1)
    assert read_model.resolve(AsOf(time=later)) == head
    assert read_model.resolve(AsOf(time=stamps[folded + 2])) == folded + 2
    assert read_model.resolve(AsOf(time=stamps[folded])) == folded
    assert read_model.cycle(scenario.cycle_id, AsOf(time=later)) == \
        read_model.cycle(scenario.cycle_id, AsOf(position=head))


def test_aggregates_at_rebuild_what_the_repository_rebuilds_across_snapshots(app, read_model):
    """The batched as-of loader (nearest snapshot + the events after it, for many aggregates at
    once) gives each aggregate exactly as the library's repository gives it at that version:
    before its first snapshot, at one, between two, after the last, and before it existed."""
    scenario = cycle_with_units(app, units=("STC", "SNV"))
    stc, snv = scenario.scorecards["STC"], scenario.scorecards["SNV"]
    for edit in range(230):  # snapshots every 100 scorecard events: at 100 and 200
        app.record_self_scores(officer("STC"), stc, [SelfScoreEntry(
            "1.3", {"numerator": edit % 10, "denominator": 10})])
    assert app.snapshots is not None
    assert len(list(app.snapshots.get(stc))) == 2
    board = Scoreboard.loading_from(app)
    head = app.recorder.max_notification_id()
    versions = {position: versions_at(app, read_model.views, [stc, snv], position)
                for position, _ in all_events(app)}
    probes = [p for p in versions if p % 7 == 0 or versions[p].get(stc) in (99, 100, 101, 200)]
    for position in probes:
        found = aggregates_at(app, read_model.views, [stc, snv, scenario.cycle_id], position)
        for aggregate_id, version in versions[position].items():
            expected = app.repository.get(aggregate_id, version=version)
            assert found[aggregate_id].version == version
            assert board.scorecard_row(found[aggregate_id]) == board.scorecard_row(expected)
        assert set(found) - {scenario.cycle_id} == set(versions[position])
    assert aggregates_at(app, read_model.views, [stc], 1) == {}, "not yet enrolled"
    assert head == app.recorder.max_notification_id(), "reading writes nothing"
