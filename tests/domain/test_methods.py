"""Scoring methods (PAR-INDEX.md §2.3): points computed from declared values, the validation of
declared values, and the validation of method specifications in a framework document."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.errors import InvalidFramework, InvalidInput
from domain.framework.methods import SURVEY_INSTRUMENTS, Method, parse_method
from domain.points import CENT, parse_points

ITEM = "1.2.3"


def points_of(spec: dict[str, Any], maximum: str, declared: dict[str, Any]) -> Decimal:
    """Parse a method for an item worth `maximum`, validate `declared`, compute its points."""
    top = parse_points(maximum)
    method = parse_method(spec, top, ITEM)
    return method.points(method.normalise(declared, ITEM), top)


def method_of(spec: object, maximum: str = "2") -> Method:
    return parse_method(spec, parse_points(maximum), ITEM)


def input_error(spec: dict[str, Any], declared: dict[str, Any], maximum: str = "2") -> InvalidInput:
    method = method_of(spec, maximum)
    with pytest.raises(InvalidInput) as caught:
        method.normalise(declared, ITEM)
    assert type(caught.value) is InvalidInput  # a person's input, not a framework fault
    return caught.value


def framework_error(spec: object, maximum: str = "2") -> InvalidFramework:
    with pytest.raises(InvalidFramework) as caught:
        method_of(spec, maximum)
    return caught.value


BOOLEAN = {"kind": "boolean"}
COUNT = {"kind": "count", "points_per_unit": "0.5"}
PROPORTIONAL = {"kind": "proportional"}
PROPORTIONAL_FULL_AT_30 = {"kind": "proportional", "full_at": "0.3"}
TIERED_RATIO = {"kind": "tiered", "basis": "ratio",
                "bands": [{"from": "100", "points": "2"}, {"from": "80", "points": "1"}]}
TIERED_VALUE = {"kind": "tiered", "basis": "value",
                "bands": [{"from": "10", "points": "3"}, {"from": "5", "points": "1.5"}]}
LEVELS = {"kind": "levels", "levels": [
    {"code": "tinh", "title": "Cấp tỉnh công nhận", "share": "1"},
    {"code": "don-vi", "title": "Cấp đơn vị", "share": "0.5"},
    {"code": "khong", "title": "Không có", "share": "0"}]}
DEDUCTION = {"kind": "deduction", "points_per_violation": "0.5"}
DEDUCTION_FLOOR = {"kind": "deduction", "points_per_violation": "0.5", "floor": "0.5"}


# --- boolean -----------------------------------------------------------------------------------

def test_boolean_done_earns_the_maximum():
    assert points_of(BOOLEAN, "1.5", {"done": True}) == Decimal("1.5")


def test_boolean_not_done_earns_zero():
    assert points_of(BOOLEAN, "1.5", {"done": False}) == 0


def test_boolean_refuses_a_non_boolean_done():
    error = input_error(BOOLEAN, {"done": "yes"})
    assert (error.item, error.field) == (ITEM, "declared.done")


# --- count × unit points -----------------------------------------------------------------------

@pytest.mark.parametrize(("count", "expected"), [(0, "0"), (1, "0.5"), (3, "1.5"), (4, "2")])
def test_count_earns_points_per_unit_below_the_cap(count, expected):
    assert points_of(COUNT, "2", {"count": count}) == Decimal(expected)


def test_count_is_capped_at_the_maximum():
    assert points_of(COUNT, "2", {"count": 10}) == Decimal("2")


def test_count_with_fractional_unit_points_rounds_half_up_to_two_decimals():
    spec = {"kind": "count", "points_per_unit": "0.125"}
    assert points_of(spec, "2", {"count": 1}) == Decimal("0.13")


# --- proportional ------------------------------------------------------------------------------

def test_proportional_earns_the_maximum_times_the_ratio():
    assert points_of(PROPORTIONAL, "3", {"numerator": 3, "denominator": 4}) == Decimal("2.25")


def test_proportional_rounds_half_up_to_two_decimals():
    assert points_of(PROPORTIONAL, "1", {"numerator": 2, "denominator": 3}) == Decimal("0.67")
    assert points_of(PROPORTIONAL, "1", {"numerator": 1, "denominator": 3}) == Decimal("0.33")


def test_proportional_full_at_earns_the_maximum_once_the_ratio_reaches_it():
    assert points_of(PROPORTIONAL_FULL_AT_30, "1.5",
                     {"numerator": 3, "denominator": 10}) == Decimal("1.5")


def test_proportional_full_at_scales_ratios_below_it():
    assert points_of(PROPORTIONAL_FULL_AT_30, "1.5",
                     {"numerator": 1, "denominator": 10}) == Decimal("0.5")


def test_proportional_full_at_never_exceeds_the_maximum_above_it():
    assert points_of(PROPORTIONAL_FULL_AT_30, "1.5",
                     {"numerator": 9, "denominator": 10}) == Decimal("1.5")


def test_proportional_zero_numerator_earns_zero():
    assert points_of(PROPORTIONAL, "3", {"numerator": 0, "denominator": 7}) == 0


# --- tiered on a ratio -------------------------------------------------------------------------

def test_tiered_ratio_in_the_top_band_earns_its_points():
    assert points_of(TIERED_RATIO, "2", {"numerator": 20, "denominator": 20}) == Decimal("2")


def test_tiered_ratio_between_bands_earns_the_lower_bands_points():
    assert points_of(TIERED_RATIO, "2", {"numerator": 19, "denominator": 20}) == Decimal("1")


def test_tiered_ratio_exactly_on_a_lower_bound_earns_that_band():
    assert points_of(TIERED_RATIO, "2", {"numerator": 16, "denominator": 20}) == Decimal("1")


def test_tiered_ratio_below_every_band_earns_zero():
    assert points_of(TIERED_RATIO, "2", {"numerator": 15, "denominator": 20}) == 0


def test_tiered_ratio_just_below_a_non_terminating_bound_misses_that_band():
    spec = {"kind": "tiered", "basis": "ratio", "bands": [{"from": "66.67", "points": "1"}]}
    assert points_of(spec, "1", {"numerator": 2, "denominator": 3}) == 0


def test_tiered_basis_defaults_to_ratio():
    spec = {"kind": "tiered", "bands": [{"from": "50", "points": "1"}]}
    assert points_of(spec, "1", {"numerator": 1, "denominator": 2}) == Decimal("1")


# --- tiered on a value -------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"),
                         [("12", "3"), (12, "3"), ("7.5", "1.5"), ("1", "0")])
def test_tiered_value_earns_the_highest_band_it_reaches(value, expected):
    assert points_of(TIERED_VALUE, "3", {"value": value}) == Decimal(expected)


def test_tiered_value_exactly_on_a_lower_bound_earns_that_band():
    assert points_of(TIERED_VALUE, "3", {"value": "5"}) == Decimal("1.5")
    assert points_of(TIERED_VALUE, "3", {"value": "10"}) == Decimal("3")


def test_tiered_value_just_below_the_lowest_band_earns_zero():
    assert points_of(TIERED_VALUE, "3", {"value": "4.99"}) == 0


# --- levels ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "expected"), [("tinh", "2"), ("don-vi", "1"), ("khong", "0")])
def test_levels_earn_their_share_of_the_maximum(level, expected):
    assert points_of(LEVELS, "2", {"level": level}) == Decimal(expected)


def test_levels_share_rounds_half_up_to_two_decimals():
    spec = {"kind": "levels", "levels": [{"code": "a", "title": "A", "share": "0.333"}]}
    assert points_of(spec, "1.5", {"level": "a"}) == Decimal("0.50")  # 0.4995 → 0.50


# --- deduction ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("violations", "expected"), [(0, "1.5"), (1, "1"), (2, "0.5"), (3, "0")])
def test_deduction_subtracts_points_per_violation_from_the_maximum(violations, expected):
    assert points_of(DEDUCTION, "1.5", {"violations": violations}) == Decimal(expected)


def test_deduction_never_goes_below_zero():
    assert points_of(DEDUCTION, "1.5", {"violations": 10}) == 0


def test_deduction_never_goes_below_its_floor():
    assert points_of(DEDUCTION_FLOOR, "1.5", {"violations": 10}) == Decimal("0.5")


def test_deduction_above_its_floor_is_not_raised_to_it():
    assert points_of(DEDUCTION_FLOOR, "1.5", {"violations": 1}) == Decimal("1")


def test_deduction_with_fractional_points_per_violation_records_two_decimals():
    spec = {"kind": "deduction", "points_per_violation": "0.125"}
    points = points_of(spec, "1", {"violations": 1})
    assert points == points.quantize(CENT)
    assert points == Decimal("0.88")


def test_a_deduction_floor_with_three_decimals_is_refused():
    spec = {"kind": "deduction", "points_per_violation": "0.5", "floor": "0.125"}
    with pytest.raises(InvalidFramework) as caught:
        method_of(spec, "1")
    assert caught.value.field == "method.floor"


def test_a_level_without_a_code_is_refused():
    spec = {"kind": "levels", "levels": [{"title": "Không mã", "share": "1"}]}
    with pytest.raises(InvalidFramework) as caught:
        method_of(spec, "1")
    assert caught.value.field == "method.levels"


# --- judgement and survey ----------------------------------------------------------------------

def test_judgement_takes_points_from_a_person_not_a_formula():
    method = method_of({"kind": "judgement"})
    assert method.computes is False
    assert method.normalise({}, ITEM) == {}


def test_judgement_refuses_declared_values():
    error = input_error({"kind": "judgement"}, {"count": 1})
    assert (error.item, error.field) == (ITEM, "declared")


@pytest.mark.parametrize("instrument", SURVEY_INSTRUMENTS)
def test_survey_item_is_fed_by_its_instrument_and_never_computed(instrument):
    method = method_of({"kind": "survey", "instrument": instrument})
    assert method.survey_fed is True
    assert method.computes is False
    assert method.document() == {"kind": "survey", "instrument": instrument}


def test_only_survey_items_are_survey_fed():
    for spec in (BOOLEAN, COUNT, PROPORTIONAL, TIERED_RATIO, LEVELS, DEDUCTION,
                 {"kind": "judgement"}):
        assert method_of(spec).survey_fed is False


# --- declared-value validation -----------------------------------------------------------------

def test_missing_declared_value_is_refused_naming_it():
    error = input_error(PROPORTIONAL, {"numerator": 1})
    assert (error.item, error.field) == (ITEM, "declared.denominator")


def test_unknown_declared_value_is_refused_naming_it():
    error = input_error(COUNT, {"count": 1, "bonus": 2})
    assert (error.item, error.field) == (ITEM, "declared.bonus")


def test_negative_count_is_refused():
    error = input_error(COUNT, {"count": -1})
    assert (error.item, error.field) == (ITEM, "declared.count")


def test_negative_violations_are_refused():
    error = input_error(DEDUCTION, {"violations": -2}, maximum="1.5")
    assert (error.item, error.field) == (ITEM, "declared.violations")


def test_negative_tiered_value_is_refused():
    error = input_error(TIERED_VALUE, {"value": "-1"}, maximum="3")
    assert (error.item, error.field) == (ITEM, "declared.value")


@pytest.mark.parametrize("spec", [PROPORTIONAL, TIERED_RATIO])
def test_numerator_above_denominator_is_refused(spec):
    error = input_error(spec, {"numerator": 5, "denominator": 4})
    assert (error.item, error.field) == (ITEM, "declared.numerator")


@pytest.mark.parametrize("spec", [PROPORTIONAL, TIERED_RATIO])
def test_zero_denominator_is_refused(spec):
    error = input_error(spec, {"numerator": 0, "denominator": 0})
    assert (error.item, error.field) == (ITEM, "declared.denominator")


def test_float_count_is_refused():
    error = input_error(COUNT, {"count": 2.0})
    assert (error.item, error.field) == (ITEM, "declared.count")


def test_float_numerator_is_refused():
    error = input_error(PROPORTIONAL, {"numerator": 0.5, "denominator": 1})
    assert (error.item, error.field) == (ITEM, "declared.numerator")


def test_float_tiered_value_is_refused():
    error = input_error(TIERED_VALUE, {"value": 7.5}, maximum="3")
    assert (error.item, error.field) == (ITEM, "declared.value")


def test_boolean_in_place_of_a_count_is_refused():
    error = input_error(COUNT, {"count": True})
    assert (error.item, error.field) == (ITEM, "declared.count")


def test_unknown_level_is_refused():
    error = input_error(LEVELS, {"level": "quoc-gia"})
    assert (error.item, error.field) == (ITEM, "declared.level")


# --- method-spec validation --------------------------------------------------------------------

def test_unknown_method_kind_is_refused():
    error = framework_error({"kind": "lottery"})
    assert (error.item, error.field) == (ITEM, "method.kind")


def test_method_without_a_kind_is_refused():
    error = framework_error({"points_per_unit": "1"})
    assert (error.item, error.field) == (ITEM, "method")


def test_band_awarding_more_than_the_maximum_is_refused():
    spec = {"kind": "tiered", "bands": [{"from": "100", "points": "3"}]}
    error = framework_error(spec, maximum="2")
    assert (error.item, error.field) == (ITEM, "method.bands")


def test_bands_not_listed_from_the_highest_bound_down_are_refused():
    spec = {"kind": "tiered", "bands": [{"from": "80", "points": "1"},
                                        {"from": "100", "points": "2"}]}
    error = framework_error(spec)
    assert (error.item, error.field) == (ITEM, "method.bands")


def test_repeated_band_bounds_are_refused():
    spec = {"kind": "tiered", "bands": [{"from": "80", "points": "2"},
                                        {"from": "80", "points": "1"}]}
    error = framework_error(spec)
    assert (error.item, error.field) == (ITEM, "method.bands")


def test_higher_band_awarding_fewer_points_is_refused():
    spec = {"kind": "tiered", "bands": [{"from": "100", "points": "1"},
                                        {"from": "80", "points": "2"}]}
    error = framework_error(spec)
    assert (error.item, error.field) == (ITEM, "method.bands")


def test_tiered_without_bands_is_refused():
    error = framework_error({"kind": "tiered", "bands": []})
    assert (error.item, error.field) == (ITEM, "method.bands")


def test_unknown_tiered_basis_is_refused():
    spec = {"kind": "tiered", "basis": "rank", "bands": [{"from": "1", "points": "1"}]}
    error = framework_error(spec)
    assert (error.item, error.field) == (ITEM, "method.basis")


def test_level_share_above_one_is_refused():
    spec = {"kind": "levels", "levels": [{"code": "a", "title": "A", "share": "1.5"}]}
    error = framework_error(spec)
    assert (error.item, error.field) == (ITEM, "method.levels")


def test_repeated_level_codes_are_refused():
    spec = {"kind": "levels", "levels": [{"code": "a", "title": "A", "share": "1"},
                                         {"code": "a", "title": "B", "share": "0.5"}]}
    error = framework_error(spec)
    assert (error.item, error.field) == (ITEM, "method.levels")


def test_deduction_floor_above_the_maximum_is_refused():
    spec = {"kind": "deduction", "points_per_violation": "0.5", "floor": "2.5"}
    error = framework_error(spec, maximum="2")
    assert (error.item, error.field) == (ITEM, "method.floor")


def test_deduction_without_points_per_violation_is_refused():
    error = framework_error({"kind": "deduction"})
    assert (error.item, error.field) == (ITEM, "method.points_per_violation")


def test_zero_points_per_unit_is_refused():
    error = framework_error({"kind": "count", "points_per_unit": "0"})
    assert (error.item, error.field) == (ITEM, "method.points_per_unit")


@pytest.mark.parametrize("full_at", ["0", "1.01"])
def test_full_at_outside_zero_to_one_is_refused(full_at):
    error = framework_error({"kind": "proportional", "full_at": full_at})
    assert (error.item, error.field) == (ITEM, "method.full_at")


def test_float_in_a_method_spec_is_refused_as_a_framework_fault():
    error = framework_error({"kind": "count", "points_per_unit": 0.5})
    assert (error.item, error.field) == (ITEM, "method.points_per_unit")


@pytest.mark.parametrize("instrument", ["", "PAPI", "sipas"])
def test_unknown_survey_instrument_is_refused(instrument):
    error = framework_error({"kind": "survey", "instrument": instrument})
    assert (error.item, error.field) == (ITEM, "method.instrument")


def test_method_that_is_not_an_object_is_refused():
    error = framework_error("boolean")
    assert (error.item, error.field) == (ITEM, "method")
