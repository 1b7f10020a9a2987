"""The demo province loads on every store, holds the facts it advertises, and loads only once.

Loading takes a couple of seconds, so the demo is loaded once per store (one test) and every fact
is checked by a helper reading the store back; the summary only says where to look.
"""

from __future__ import annotations

import itertools
import unicodedata
from decimal import Decimal

import pytest

from domain.application import ParIndex
from domain.cycle.model import AssessmentCycle
from domain.cycle.phases import Phase
from domain.demo import DemoSummary, load_demo
from domain.demo.loader import framework_template
from domain.errors import AlreadyExists
from domain.scorecard.model import Scorecard
from domain.scorecard.state import Decision, PointsSource, Status
from domain.scoring import ScoreSheet
from tests.builders import SECRETARIAT, small_framework

SPLITS = {"SO": (Decimal(68), Decimal(32)), "XA": (Decimal(60), Decimal(40))}


def sheets(app: ParIndex, cycle: AssessmentCycle) -> list[tuple[Scorecard, ScoreSheet]]:
    return [(card, card.sheet(app.framework_tree(card.framework_id)))
            for card in app.scorecards(cycle)]


def card_of(app: ParIndex, cycle: AssessmentCycle, unit_code: str) -> Scorecard:
    return app.scorecard(cycle.unit(unit_code)["scorecard_id"])


def test_the_demo_loads_a_published_province_with_its_stories(app: ParIndex) -> None:
    own_clock = app.clock
    summary = load_demo(app)
    assert app.clock is own_clock, "the application gets its own clock back"
    cycles = {year: app.cycle(cycle_id) for year, cycle_id in summary.cycle_ids.items()}

    assert_both_years_published(app, summary, cycles)
    assert_frameworks_split_as_in_the_reference(app, cycles)
    current = cycles[max(cycles)]
    assert_a_ranked_tie(app, current, summary)
    assert_the_locked_and_the_extended_units(app, current, summary)
    assert_the_evaluated_only_unit(app, current, summary)
    assert_the_correction(app, current, summary)
    assert_the_appraisal_story(app, current)
    assert_year_on_year_is_possible(cycles)
    assert_the_description_names_the_facts(summary, current)
    assert_a_second_load_writes_nothing(app, own_clock)


def assert_both_years_published(app: ParIndex, summary: DemoSummary,
                                cycles: dict[int, AssessmentCycle]) -> None:
    assert summary.years == (2024, 2025)
    assert summary.event_count == app.recorder.max_notification_id() > 0
    for demo_cycle in summary.cycles:
        cycle = cycles[demo_cycle.year]
        assert app.find_cycle(summary.province, demo_cycle.year).id == cycle.id
        assert cycle.phase is Phase.PUBLISHED
        assert cycle.publication["decision_ref"] == demo_cycle.publication_ref
        groups = {code: [u for u in cycle.units.values() if u["group"] == code]
                  for code in ("SO", "XA")}
        assert {code: len(units) for code, units in groups.items()} == \
            demo_cycle.units_per_group
        for units in groups.values():
            assert sum(u["ranked"] for u in units) >= 20


def assert_frameworks_split_as_in_the_reference(app: ParIndex,
                                                cycles: dict[int, AssessmentCycle]) -> None:
    kinds = set()
    for year, cycle in cycles.items():
        for group, (appraised, survey) in SPLITS.items():
            tree = app.framework_tree(cycle.framework_of(group))
            assert (tree.code, tree.year, tree.unit_group) == (f"{group}-{year}", year, group)
            assert tree.total_max == appraised + survey == 100
            assert tree.survey_max == survey
            assert (tree.bonus_cap, tree.penalty_cap) == (2, 2)
            kinds |= {node.method.kind for node in tree.items()}
            assert any(node.not_applicable for node in tree.items())
            assert all(node.evidence for node in tree.items() if not node.survey_fed)
    assert kinds == {"boolean", "count", "proportional", "tiered", "levels", "deduction",
                     "judgement", "survey"}


def assert_a_ranked_tie(app: ParIndex, cycle: AssessmentCycle, summary: DemoSummary) -> None:
    ranked = [(card, sheet) for card, sheet in sheets(app, cycle) if card.ranked]
    tied = {frozenset((a.unit_code, b.unit_code))
            for (a, sa), (b, sb) in itertools.combinations(ranked, 2)
            if a.group_code == b.group_code and sa.total == sb.total}
    assert frozenset(summary.tie_units) in tied
    totals = {card.unit_code: sheet.total for card, sheet in ranked}
    assert {totals[code] for code in summary.tie_units} == {summary.tie_total}


def assert_the_locked_and_the_extended_units(app: ParIndex, cycle: AssessmentCycle,
                                             summary: DemoSummary) -> None:
    locked = card_of(app, cycle, summary.locked_unit)
    assert locked.status is Status.LOCKED
    tree = app.framework_tree(locked.framework_id)
    unscored = [node.code for node in tree.items() if not node.survey_fed
                and locked.item(node.code).self_points is None
                and not locked.item(node.code).not_applicable]
    assert unscored, "the sheet was locked as it stood, with items left unscored"
    assert all(locked.sheet(tree).nodes[code].points == 0 for code in unscored)
    extended = card_of(app, cycle, summary.extended_unit)
    assert extended.status is Status.SUBMITTED
    assert (summary.extended_unit, Phase.SELF_ASSESSMENT) in cycle.extensions
    others = [card.status for card in app.scorecards(cycle)
              if card.unit_code not in (summary.locked_unit, summary.extended_unit)]
    assert set(others) == {Status.SUBMITTED}


def assert_the_evaluated_only_unit(app: ParIndex, cycle: AssessmentCycle,
                                   summary: DemoSummary) -> None:
    unranked = [code for code, unit in cycle.units.items() if not unit["ranked"]]
    assert unranked == [summary.evaluated_only_unit]
    card, _, sheet = app.score_sheet(cycle.unit(unranked[0])["scorecard_id"])
    assert card.unit_name == "Thanh tra tỉnh" and not card.ranked and sheet.total > 0


def assert_the_correction(app: ParIndex, cycle: AssessmentCycle,
                          summary: DemoSummary) -> None:
    card = card_of(app, cycle, summary.corrected_unit)
    points, source = card.item(summary.corrected_item).final
    assert source is PointsSource.CORRECTION and points == 3
    corrected = [(c.unit_code, code) for c in app.scorecards(cycle)
                 for code, state in c.items.items() if state.corrected_points is not None]
    assert corrected == [(summary.corrected_unit, summary.corrected_item)]
    assert summary.correction_ref.startswith("QĐ ")


def assert_the_appraisal_story(app: ParIndex, cycle: AssessmentCycle) -> None:
    cards = app.scorecards(cycle)
    states = [state for card in cards for state in card.items.values()]
    assert any(state.not_applicable for state in states)
    assert any(state.round1_decision is Decision.ADJUSTED for state in states)
    assert any(state.explanation and state.round2_decision is Decision.ADJUSTED
               and state.round2_points > state.round1_points for state in states), \
        "an explanation restores points in round 2"
    assert any(card.bonus for card in cards) and any(card.penalty for card in cards)
    for card in cards:
        tree = app.framework_tree(card.framework_id)
        for node in tree.items():
            if node.survey_fed:
                assert card.item(node.code).survey_points is not None, (card.unit_code,
                                                                        node.code)
            else:
                assert card.item(node.code).round1_decision is not None


def assert_year_on_year_is_possible(cycles: dict[int, AssessmentCycle]) -> None:
    before, after = (set(cycles[year].units) for year in sorted(cycles))
    assert len(before & after) >= 40


def assert_the_description_names_the_facts(summary: DemoSummary,
                                           cycle: AssessmentCycle) -> None:
    text = summary.describe()
    assert summary.province in text
    for code in (*summary.tie_units, summary.locked_unit, summary.evaluated_only_unit,
                 summary.corrected_unit):
        assert cycle.units[code]["name"] in text
    assert summary.correction_ref in text
    assert unicodedata.normalize("NFC", text) == text


def assert_a_second_load_writes_nothing(app: ParIndex, own_clock: object) -> None:
    before = app.recorder.max_notification_id()
    with pytest.raises(AlreadyExists, match="empty store"):
        load_demo(app)
    assert app.recorder.max_notification_id() == before
    assert app.clock is own_clock


def test_the_demo_refuses_a_store_that_already_has_events(app: ParIndex) -> None:
    app.define_framework(SECRETARIAT, small_framework())
    before = app.recorder.max_notification_id()
    with pytest.raises(AlreadyExists):
        load_demo(app)
    assert app.recorder.max_notification_id() == before
    assert app.find_cycle("Khánh Hòa", 2025) is None


@pytest.mark.parametrize("group", ["so", "xa"])
def test_the_packaged_framework_templates_are_nfc(group: str) -> None:
    template = framework_template(group)
    text = repr(template)
    assert unicodedata.normalize("NFC", text) == text
    assert "{year}" in template["code"]
