from domain.cycle.phases import Phase
from domain.scorecard.state import Status
from tests.builders import cycle_with_units


def test_a_unit_self_scores_and_submits_on_every_store(app):
    scenario = cycle_with_units(app)
    scenario.submit_full_marks("STC")
    card, _, sheet = app.score_sheet(scenario.scorecards["STC"])
    assert card.status is Status.SUBMITTED
    assert sheet.appraised_part == 14
    assert app.cycle(scenario.cycle_id).phase is Phase.SELF_ASSESSMENT


def test_a_full_cycle_reaches_publication(app):
    scenario = cycle_with_units(app)
    scenario.publish()
    assert app.cycle(scenario.cycle_id).phase is Phase.PUBLISHED
