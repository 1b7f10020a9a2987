"""The scoring engine (PAR-INDEX.md §2.3, §2.4, §8.1, §9(g)): properties over random frameworks
and inputs, and worked examples of percentages and final-points precedence."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.framework.structure import FrameworkTree, parse_framework
from domain.points import ZERO, percent_of
from domain.scorecard.state import ItemState, PointsSource
from domain.scoring import ItemInput, NodeScore, ScoreSheet, score
from tests.builders import small_framework
from tests.domain.strategies import bonus_or_penalty, item_inputs, trees, trees_with_rule

PROPERTIES = settings(max_examples=100, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


@st.composite
def scored(draw: st.DrawFn, *, allow_drop: bool = True):
    tree = draw(trees())
    return tree, draw(item_inputs(tree, allow_drop=allow_drop))


def sheet_of(tree: FrameworkTree, given: dict[str, ItemInput]) -> ScoreSheet:
    return score(tree, given)


def counted_points(tree: FrameworkTree, code: str, given: dict[str, ItemInput]) -> Decimal:
    """What an appraised item contributes when NA credits the maximum."""
    item = given.get(code, ItemInput())
    if item.not_applicable:
        return tree.nodes[code].max_points
    return item.points if item.points is not None else ZERO


# --- sums and bounds ---------------------------------------------------------------------------

@PROPERTIES
@given(scored())
def test_every_parent_scores_the_sum_of_its_childrens_points(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    for node in tree.nodes.values():
        if node.children:
            assert sheet.nodes[node.code].points == sum(
                (sheet.nodes[child].points for child in node.children), ZERO)


@PROPERTIES
@given(scored())
def test_every_parents_applicable_maximum_is_the_sum_of_its_childrens(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    for node in tree.nodes.values():
        if node.children:
            assert sheet.nodes[node.code].applicable_max == sum(
                (sheet.nodes[child].applicable_max for child in node.children), ZERO)


@PROPERTIES
@given(scored())
def test_every_node_scores_between_zero_and_its_maximum(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    for code, node in tree.nodes.items():
        assert ZERO <= sheet.nodes[code].points <= node.max_points
        assert sheet.nodes[code].max_points == node.max_points


@PROPERTIES
@given(scored(), bonus_or_penalty(), bonus_or_penalty())
def test_total_is_appraised_plus_survey_plus_capped_bonus_minus_capped_penalty_floored_at_zero(
        case, bonus, penalty):
    tree, given_items = case
    sheet = score(tree, given_items, bonus, penalty)
    expected = (sheet.appraised_part + sheet.survey_part + min(bonus, tree.bonus_cap)
                - min(penalty, tree.penalty_cap))
    assert sheet.total == max(ZERO, expected)


@PROPERTIES
@given(scored(), bonus_or_penalty(), bonus_or_penalty())
def test_total_is_never_negative(case, bonus, penalty):
    tree, given_items = case
    assert score(tree, given_items, bonus, penalty).total >= 0


@PROPERTIES
@given(scored(allow_drop=False))
def test_without_dropped_items_the_appraised_part_is_the_plain_sum_of_appraised_items(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    expected = sum((counted_points(tree, node.code, given_items)
                    for node in tree.items() if not node.survey_fed), ZERO)
    assert sheet.appraised_part == expected
    assert sheet.appraised_applicable_max == sheet.appraised_max


@PROPERTIES
@given(scored())
def test_survey_part_is_the_sum_of_survey_item_points(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    expected = sum((counted_points(tree, node.code, given_items)
                    for node in tree.items() if node.survey_fed), ZERO)
    assert sheet.survey_part == expected
    assert sheet.survey_max == tree.survey_max


@PROPERTIES
@given(scored())
def test_appraised_and_survey_maxima_make_up_the_framework_maximum(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    assert sheet.appraised_max + sheet.survey_max == tree.total_max


@PROPERTIES
@given(scored())
def test_appraised_part_never_exceeds_the_appraised_maximum(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    assert ZERO <= sheet.appraised_part <= sheet.appraised_max


@PROPERTIES
@given(scored(), st.randoms(use_true_random=False))
def test_the_order_items_are_given_in_does_not_change_any_score(case, rng: random.Random):
    tree, given_items = case
    pairs = list(given_items.items())
    rng.shuffle(pairs)
    shuffled = dict(pairs)
    original, reordered = sheet_of(tree, given_items), sheet_of(tree, shuffled)
    assert reordered == original
    assert reordered.total == original.total
    assert reordered.appraised_part == original.appraised_part


# --- not applicable (§9(g)) --------------------------------------------------------------------

@st.composite
def scored_with_na(draw: st.DrawFn, rule: str):
    """Random inputs in which at least one item under `rule` is declared not applicable."""
    tree, chosen = draw(trees_with_rule(rule))
    given_items = draw(item_inputs(tree))
    given_items[chosen] = ItemInput(not_applicable=True)
    return tree, given_items


@PROPERTIES
@given(scored_with_na("credit_max"))
def test_not_applicable_with_credit_max_scores_exactly_like_entering_the_maximum(case):
    tree, given_items = case
    entered = dict(given_items)
    for code, item in given_items.items():
        if item.not_applicable and tree.nodes[code].not_applicable == "credit_max":
            entered[code] = ItemInput(points=tree.nodes[code].max_points)
    assert entered != given_items
    assert sheet_of(tree, given_items) == sheet_of(tree, entered)


@st.composite
def full_marks_with_drops(draw: st.DrawFn):
    """Every applicable appraised item at its maximum; some NA-capable items not applicable,
    at least one of them under the drop rule."""
    tree, chosen = draw(trees_with_rule("drop_from_denominator"))
    given_items: dict[str, ItemInput] = {}
    for node in tree.items():
        if node.survey_fed:
            continue
        if node.code == chosen or (node.not_applicable is not None and draw(st.booleans())):
            given_items[node.code] = ItemInput(not_applicable=True)
        else:
            given_items[node.code] = ItemInput(points=node.max_points)
    return tree, given_items


def dropped_and_applicable(tree: FrameworkTree, given_items: dict[str, ItemInput]):
    dropped = [code for code, item in given_items.items() if item.not_applicable
               and tree.nodes[code].not_applicable == "drop_from_denominator"]
    applicable = [code for code, item in given_items.items() if code not in dropped]
    return dropped, applicable


@PROPERTIES
@given(full_marks_with_drops())
def test_dropping_not_applicable_items_rescales_full_marks_to_the_full_appraised_maximum(case):
    tree, given_items = case
    _, applicable = dropped_and_applicable(tree, given_items)
    assume(applicable)  # with every appraised item dropped there is nothing to rescale
    sheet = sheet_of(tree, given_items)
    assert sheet.appraised_applicable_max < sheet.appraised_max
    assert sheet.appraised_part == sheet.appraised_max


@PROPERTIES
@given(scored_with_na("drop_from_denominator"))
def test_dropped_items_leave_their_maximum_out_of_the_applicable_maximum(case):
    tree, given_items = case
    dropped, _ = dropped_and_applicable(tree, given_items)
    sheet = sheet_of(tree, given_items)
    removed = sum((tree.nodes[code].max_points for code in dropped), ZERO)
    assert sheet.appraised_applicable_max == sheet.appraised_max - removed
    for code in dropped:
        assert sheet.nodes[code] == NodeScore(code, ZERO, tree.nodes[code].max_points, ZERO)


@PROPERTIES
@given(scored_with_na("drop_from_denominator"))
def test_dropped_items_rescale_the_appraised_points_by_max_over_applicable_max(case):
    tree, given_items = case
    sheet = sheet_of(tree, given_items)
    assume(sheet.appraised_applicable_max > 0)
    assert sheet.appraised_part == (sheet.appraised_points * sheet.appraised_max
                                    / sheet.appraised_applicable_max)


# --- bonus and penalty caps --------------------------------------------------------------------

@PROPERTIES
@given(scored(), bonus_or_penalty(), bonus_or_penalty())
def test_bonus_and_penalty_never_exceed_their_caps(case, bonus, penalty):
    tree, given_items = case
    sheet = score(tree, given_items, bonus, penalty)
    assert sheet.bonus == min(bonus, tree.bonus_cap)
    assert sheet.penalty == min(penalty, tree.penalty_cap)
    assert sheet.total <= sheet.base_total + tree.bonus_cap


def test_bonus_above_the_cap_adds_only_the_cap():
    tree = parse_framework(small_framework())
    sheet = score(tree, {}, bonus=Decimal("5"))
    assert sheet.total == Decimal("2")


def test_penalty_above_the_cap_subtracts_only_the_cap():
    tree = parse_framework(small_framework())
    full = {node.code: ItemInput(points=node.max_points) for node in tree.items()}
    sheet = score(tree, full, penalty=Decimal("5"))
    assert sheet.total == Decimal("18")


def test_penalty_larger_than_the_base_total_floors_the_total_at_zero():
    tree = parse_framework(small_framework())
    sheet = score(tree, {"1.1.1": ItemInput(points=Decimal("1"))}, penalty=Decimal("2"))
    assert sheet.base_total == 1
    assert sheet.total == 0


def test_item_points_outside_zero_to_maximum_are_refused():
    tree = parse_framework(small_framework())
    with pytest.raises(ValueError, match=r"item 1\.1\.1"):
        score(tree, {"1.1.1": ItemInput(points=Decimal("1.01"))})


# --- percentages (§2.4) ------------------------------------------------------------------------

def test_percent_of_10_59_out_of_11_is_96_27():
    assert percent_of(Decimal("10.59"), Decimal("11")) == Decimal("96.27")


def test_node_score_percent_of_10_59_out_of_11_is_96_27():
    node = NodeScore("1", Decimal("10.59"), Decimal("11"), Decimal("11"))
    assert node.percent == Decimal("96.27")


def test_field_scoring_10_59_of_11_reports_96_27_percent():
    tree = parse_framework({
        "code": "X-2025", "title": "Khung 11 điểm", "year": 2025, "unit_group": "SO",
        "fields": [{"code": "1", "title": "Lĩnh vực", "max_points": "11", "children": [
            {"code": "1.1", "title": "A", "max_points": "6", "method": {"kind": "judgement"}},
            {"code": "1.2", "title": "B", "max_points": "5", "method": {"kind": "judgement"}},
        ]}]})
    sheet = score(tree, {"1.1": ItemInput(points=Decimal("5.59")),
                         "1.2": ItemInput(points=Decimal("5"))})
    assert sheet.nodes["1"].points == Decimal("10.59")
    assert sheet.nodes["1"].percent == Decimal("96.27")


def test_percent_rounds_half_up_at_the_second_decimal():
    assert percent_of(Decimal("0.01"), Decimal("8")) == Decimal("0.13")  # 0.125
    assert percent_of(Decimal("0.05"), Decimal("8")) == Decimal("0.63")  # 0.625


def test_percent_of_a_zero_maximum_is_zero():
    assert percent_of(ZERO, ZERO) == 0


def test_node_percent_is_taken_of_its_applicable_maximum():
    tree = parse_framework(small_framework())
    sheet = score(tree, {"2.1": ItemInput(not_applicable=True),
                         "2.2": ItemInput(points=Decimal("2")),
                         "2.3": ItemInput(points=Decimal("1.59")),
                         "2.4": ItemInput(points=Decimal("1"))})
    assert sheet.nodes["2"].points == Decimal("4.59")
    assert sheet.nodes["2"].applicable_max == Decimal("5")
    assert sheet.nodes["2"].percent == Decimal("91.80")


def test_totals_keep_full_precision_while_percent_rounds_only_for_display():
    tree = parse_framework(small_framework())
    points = {"1.1.1": "1", "1.1.2": "2", "1.2": "1.5", "1.3": "1.5", "2.2": "2", "2.3": "1.59",
              "2.4": "1"}
    given_items = {code: ItemInput(points=Decimal(value)) for code, value in points.items()}
    given_items["2.1"] = ItemInput(not_applicable=True)  # drop 3 of 14 appraised points
    sheet = score(tree, given_items)
    exact = Decimal("10.59") * Decimal("14") / Decimal("11")  # 13.478181…
    assert sheet.appraised_points == Decimal("10.59")
    assert sheet.appraised_part == exact
    assert sheet.total == exact
    assert sheet.total != sheet.total.quantize(Decimal("0.01"))
    assert percent_of(sheet.total, tree.total_max) == Decimal("67.39")


# --- final points precedence -------------------------------------------------------------------

ALL_SET = ItemState("1.1.1", self_points=Decimal("1"), survey_points=Decimal("2"),
                    round1_points=Decimal("3"), round2_points=Decimal("4"),
                    corrected_points=Decimal("5"))


def test_correction_outranks_every_other_source():
    assert ALL_SET.final == (Decimal("5"), PointsSource.CORRECTION)


def test_round_two_outranks_round_one_survey_and_self():
    state = ALL_SET.with_(corrected_points=None)
    assert state.final == (Decimal("4"), PointsSource.APPRAISAL_2)


def test_round_one_outranks_survey_and_self():
    state = ALL_SET.with_(corrected_points=None, round2_points=None)
    assert state.final == (Decimal("3"), PointsSource.APPRAISAL_1)


def test_survey_outranks_self():
    state = ALL_SET.with_(corrected_points=None, round2_points=None, round1_points=None)
    assert state.final == (Decimal("2"), PointsSource.SURVEY)


def test_self_score_counts_when_nothing_else_is_set():
    assert ItemState("1.1.1", self_points=Decimal("1")).final == (Decimal("1"), PointsSource.SELF)


def test_item_with_no_points_has_no_final_points():
    assert ItemState("1.1.1").final == (None, PointsSource.NONE)


def test_zero_points_from_a_higher_authority_still_outrank_a_self_score():
    state = ItemState("1.1.1", self_points=Decimal("1"), round1_points=ZERO)
    assert state.final == (ZERO, PointsSource.APPRAISAL_1)
