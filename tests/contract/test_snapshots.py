from domain.application import ParIndex
from domain.scorecard.model import SelfScoreEntry
from domain.store.config import settings_from_url
from tests.builders import cycle_with_units, officer


def replay_without_snapshots(app, aggregate_id):
    aggregate = None
    for event in app.events.get(aggregate_id):
        aggregate = event.mutate(aggregate)
    return aggregate


def test_a_busy_scorecard_loads_from_its_snapshot_exactly_as_from_its_events(app, store_url):
    scenario = cycle_with_units(app, units=("STC",))
    card_id = scenario.scorecards["STC"]
    for round_ in range(130):
        app.record_self_scores(officer("STC"), card_id, [
            SelfScoreEntry("2.4", points="1" if round_ % 2 else "0.5",
                           note=f"lần sửa {round_}")])
    snapshots = list(app.snapshots.get(card_id))
    assert [s.originator_version for s in snapshots][-1] == 100
    fresh = ParIndex(settings_from_url(store_url))  # empty cache: must start from the snapshot
    try:
        loaded = fresh.repository.get(card_id)
    finally:
        fresh.close()
    replayed = replay_without_snapshots(app, card_id)
    assert loaded.version == replayed.version == 131
    assert vars(loaded) == vars(replayed)
