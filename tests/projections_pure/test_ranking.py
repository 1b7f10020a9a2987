"""Ranking one group of one cycle (PAR-INDEX.md §3, decisions 9(e) and 9(f)): worked examples
and properties of `projections.ranking.rank_group`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.cycle.phases import DEFAULT_CLASSIFICATION, RankingRule
from projections.ranking import (
    GroupRanking,
    PreviousResult,
    Standing,
    display_total,
    rank_group,
)

D = Decimal
COMPETITION = RankingRule.COMPETITION
DENSE = RankingRule.DENSE
LABELS = ["Xuất sắc", "Tốt", "Khá", "Trung bình", "Yếu"]


def standing(code: str, total: str | Decimal, *, ranked: bool = True, name: str | None = None,
             appraised: str = "0", survey: str = "0", bonus: str = "0",
             penalty: str = "0") -> Standing:
    return Standing(unit_code=code, unit_name=name or f"Unit {code}", ranked=ranked,
                    total=D(total), appraised_part=D(appraised), survey_part=D(survey),
                    bonus=D(bonus), penalty=D(penalty))


def rank(standings: list[Standing], rule: RankingRule = COMPETITION, **kwargs) -> GroupRanking:
    return rank_group(standings, rule, DEFAULT_CLASSIFICATION, **kwargs)


def ranks_by_code(result: GroupRanking) -> dict[str, int | None]:
    return {row.unit_code: row.rank for row in result.rows}


def listing(result: GroupRanking) -> list[tuple[int | None, str]]:
    return [(row.rank, row.unit_code) for row in result.rows]


# --- ties (§3.2, decision 9(e)) ---------------------------------------------------------------

TIED = [standing("D", "80"), standing("C", "85"), standing("A", "90"), standing("B", "85")]


def test_competition_ranking_gives_tied_units_one_rank_and_skips_the_next():
    assert listing(rank(TIED)) == [(1, "A"), (2, "B"), (2, "C"), (4, "D")]


def test_dense_ranking_gives_tied_units_one_rank_and_continues_with_the_next_integer():
    assert listing(rank(TIED, DENSE)) == [(1, "A"), (2, "B"), (2, "C"), (3, "D")]


def test_tied_units_are_listed_by_unit_code_whatever_the_input_order():
    forward = rank([standing("Z9", "85"), standing("A1", "85"), standing("M5", "85")])
    backward = rank([standing("M5", "85"), standing("A1", "85"), standing("Z9", "85")])
    assert listing(forward) == listing(backward) == [(1, "A1"), (1, "M5"), (1, "Z9")]


def test_totals_are_compared_unrounded_so_88_805_beats_88_8049():
    result = rank([standing("B", "88.8049"), standing("A", "88.805")])
    assert listing(result) == [(1, "A"), (2, "B")]
    assert [row.total_display for row in result.rows] == ["88.81", "88.80"]


def test_totals_that_show_the_same_two_decimals_are_still_ranked_apart():
    result = rank([standing("A", "88.805"), standing("B", "88.8051")], DENSE)
    assert listing(result) == [(1, "B"), (2, "A")]
    assert [row.total_display for row in result.rows] == ["88.81", "88.81"]


def test_equal_values_written_with_different_decimals_tie():
    result = rank([standing("A", "88.8"), standing("B", "88.80"), standing("C", "88.800")])
    assert [row.rank for row in result.rows] == [1, 1, 1]


def test_the_display_total_is_two_decimals_half_up_and_never_negative_zero():
    assert display_total(D("88.805")) == "88.81"
    assert display_total(D("88.8049")) == "88.80"
    assert display_total(D("100")) == "100.00"
    assert display_total(D("0")) == "0.00"
    assert display_total(D("-0.001")) == "0.00"
    assert display_total(D("1E+1")) == "10.00"


# --- the Nghệ An example (§3.1) -----------------------------------------------------------------

def test_nghe_an_departments_are_ranked_finance_ppc_office_home_affairs():
    result = rank([
        standing("SNV", "88.57", name="Sở Nội vụ", appraised="60.12", survey="28.45"),
        standing("STC", "88.81", name="Sở Tài chính", appraised="61.00", survey="27.81"),
        standing("VP", "88.73", name="Văn phòng UBND tỉnh", appraised="59.73", survey="29.00"),
    ])
    assert [(row.rank, row.unit_name, row.total_display) for row in result.rows] == [
        (1, "Sở Tài chính", "88.81"),
        (2, "Văn phòng UBND tỉnh", "88.73"),
        (3, "Sở Nội vụ", "88.57"),
    ]
    assert {row.classification for row in result.rows} == {"Tốt"}
    finance = result.rows[0]
    assert (finance.appraised_part, finance.survey_part) == (D("61.00"), D("27.81"))
    assert result.rule is COMPETITION


def test_a_row_carries_the_parts_bonus_and_penalty_unchanged():
    row = rank([standing("A", "91.5", appraised="62", survey="29", bonus="1",
                         penalty="0.5")]).rows[0]
    assert (row.appraised_part, row.survey_part, row.bonus, row.penalty) == (
        D("62"), D("29"), D("1"), D("0.5"))


# --- evaluated but not ranked (§3.3) -----------------------------------------------------------

def test_evaluated_only_units_are_listed_after_the_ranked_ones_without_a_rank():
    result = rank([
        standing("TTR", "96.86", ranked=False), standing("SXD", "70", ranked=False),
        standing("STC", "88.81"), standing("SNV", "88.57"),
    ])
    assert listing(result) == [(1, "STC"), (2, "SNV"), (None, "TTR"), (None, "SXD")]
    assert [row.ranked for row in result.rows] == [True, True, False, False]
    assert [row.above_average for row in result.rows[2:]] == [None, None]


def test_evaluated_only_units_are_still_classified():
    result = rank([standing("TTR", "96.86", ranked=False), standing("STC", "88.81")])
    assert {row.unit_code: row.classification for row in result.rows} == {
        "STC": "Tốt", "TTR": "Xuất sắc"}


def test_evaluated_only_units_are_left_out_of_average_extremes_and_counts():
    result = rank([
        standing("TTR", "99", ranked=False), standing("X", "40", ranked=False),
        standing("A", "90"), standing("B", "80"),
    ])
    assert result.ranked_count == 2
    assert result.average == D("85")
    assert (result.minimum, result.maximum, result.gap) == (D("80"), D("90"), D("10"))
    assert result.above_average == 1
    assert result.class_counts == {"Xuất sắc": 1, "Tốt": 1, "Khá": 0, "Trung bình": 0, "Yếu": 0}


def test_evaluated_only_units_are_ordered_by_total_then_unit_code():
    result = rank([standing("B", "70", ranked=False), standing("C", "75", ranked=False),
                   standing("A", "70", ranked=False)])
    assert listing(result) == [(None, "C"), (None, "A"), (None, "B")]


def test_a_group_with_only_evaluated_units_has_no_statistics():
    result = rank([standing("A", "90", ranked=False)])
    assert result.ranked_count == 0
    assert (result.average, result.minimum, result.maximum, result.gap) == (None,) * 4
    assert result.above_average == 0
    assert sum(result.class_counts.values()) == 0
    assert len(result.rows) == 1


# --- averages, above-average counts, gap (§3.5) ------------------------------------------------

def test_average_above_average_count_and_top_bottom_gap():
    result = rank([standing("A", "90"), standing("B", "80"), standing("C", "70"),
                   standing("D", "61")])
    assert result.average == D("75.25")
    assert result.above_average == 2
    assert [row.above_average for row in result.rows] == [True, True, False, False]
    assert (result.minimum, result.maximum, result.gap) == (D("61"), D("90"), D("29"))


def test_the_average_is_unrounded():
    result = rank([standing("A", "90"), standing("B", "85"), standing("C", "85")])
    assert result.average == D("260") / 3
    assert result.average != D("86.67")
    assert [row.above_average for row in result.rows] == [True, False, False]
    assert result.above_average == 1


def test_a_unit_exactly_at_the_average_is_not_above_it():
    result = rank([standing("A", "90"), standing("B", "85"), standing("C", "80")])
    assert result.average == D("85")
    assert [row.above_average for row in result.rows] == [True, False, False]
    assert result.above_average == 1


def test_a_group_of_equal_totals_has_no_unit_above_average_and_no_gap():
    result = rank([standing("A", "88.5"), standing("B", "88.50")])
    assert result.above_average == 0
    assert result.gap == 0


# --- classification (§3.4, decision 9(f)) -------------------------------------------------------

def test_class_counts_list_every_label_of_the_scheme_including_zeros_in_scheme_order():
    result = rank([standing("H", "94.5"), standing("A", "87.9"), standing("B", "85.7"),
                   standing("C", "72")])
    assert result.class_counts == {"Xuất sắc": 1, "Tốt": 2, "Khá": 1, "Trung bình": 0, "Yếu": 0}
    assert list(result.class_counts) == LABELS


def test_classification_uses_the_unrounded_total_so_89_995_is_not_excellent():
    result = rank([standing("A", "89.995"), standing("B", "90")])
    assert {row.unit_code: (row.total_display, row.classification) for row in result.rows} == {
        "B": ("90.00", "Xuất sắc"), "A": ("90.00", "Tốt")}


def test_a_group_may_use_its_own_classification_scheme():
    group_scheme = [{"label": "Nhóm I", "min_total": "80"}, {"label": "Nhóm II", "min_total": "70"},
                    {"label": "Nhóm III", "min_total": "0"}]
    result = rank_group([standing("A", "85"), standing("B", "79.99")], COMPETITION, group_scheme)
    assert [row.classification for row in result.rows] == ["Nhóm I", "Nhóm II"]
    assert result.class_counts == {"Nhóm I": 1, "Nhóm II": 1, "Nhóm III": 0}


# --- year-on-year (§3.5) -----------------------------------------------------------------------

def provinces() -> list[Standing]:
    """63 provinces with distinct totals: Hải Dương 22nd at 87.84, Lạng Sơn 54th at 81.45."""
    above = [standing(f"A{i:02d}", D("95") - D("0.1") * i) for i in range(1, 22)]
    middle = [standing(f"M{i:02d}", D("87") - D("0.1") * i) for i in range(1, 32)]
    below = [standing(f"B{i:02d}", D("80") - D("0.5") * i) for i in range(1, 10)]
    return [*above, standing("HDG", "87.84", name="Hải Dương"), *middle,
            standing("LSN", "81.45", name="Lạng Sơn"), *below]


def test_year_on_year_change_of_total_and_rank():
    current = provinces()
    result = rank(current, previous={
        "HDG": PreviousResult(total=D("83.52"), rank=47, classification="Tốt"),
        "LSN": PreviousResult(total=D("87.11"), rank=23, classification="Tốt"),
    })
    rows = {row.unit_code: row for row in result.rows}
    hai_duong, lang_son = rows["HDG"], rows["LSN"]
    assert (hai_duong.rank, hai_duong.previous_rank, hai_duong.rank_delta) == (22, 47, 25)
    assert (hai_duong.previous_total, hai_duong.total_delta) == (D("83.52"), D("4.32"))
    assert (lang_son.rank, lang_son.previous_rank, lang_son.rank_delta) == (54, 23, -31)
    assert (lang_son.previous_total, lang_son.total_delta) == (D("87.11"), D("-5.66"))
    assert result.ranked_count == 63


def test_a_small_move_up_is_a_positive_rank_delta():
    result = rank([standing("A", "95"), standing("B", "90.49"), standing("C", "80")],
                  previous={"B": PreviousResult(total=D("89.00"), rank=8,
                                                classification="Tốt")})
    row = result.rows[1]
    assert (row.unit_code, row.rank, row.rank_delta, row.total_delta) == ("B", 2, 6, D("1.49"))


def test_units_absent_from_the_previous_cycle_have_no_year_on_year_fields():
    result = rank([standing("NEW", "85"), standing("OLD", "80")],
                  previous={"OLD": PreviousResult(total=D("80"), rank=1, classification="Tốt")})
    new = result.rows[0]
    assert new.unit_code == "NEW"
    assert (new.previous_total, new.total_delta, new.previous_rank, new.rank_delta,
            new.previous_classification, new.classification_changed) == (None,) * 6
    old = result.rows[1]
    assert (old.total_delta, old.rank_delta, old.classification_changed) == (D("0"), -1, False)


def test_without_a_previous_cycle_every_year_on_year_field_is_none():
    result = rank([standing("A", "85")])
    row = result.rows[0]
    assert (row.previous_total, row.total_delta, row.previous_rank, row.rank_delta,
            row.previous_classification, row.classification_changed) == (None,) * 6
    assert result.previous_class_counts is None


def test_no_rank_delta_when_either_year_was_evaluated_only():
    result = rank([standing("A", "85"), standing("B", "80", ranked=False)], previous={
        "A": PreviousResult(total=D("84"), rank=None, classification="Tốt"),
        "B": PreviousResult(total=D("79"), rank=3, classification="Khá"),
    })
    rows = {row.unit_code: row for row in result.rows}
    assert (rows["A"].previous_rank, rows["A"].rank_delta, rows["A"].total_delta) == (
        None, None, D("1"))
    assert (rows["B"].previous_rank, rows["B"].rank_delta, rows["B"].total_delta) == (
        3, None, D("1"))


def test_a_change_of_class_since_last_year_is_flagged():
    result = rank([standing("UP", "81"), standing("SAME", "75"), standing("DOWN", "69.99")],
                  previous={
                      "UP": PreviousResult(total=D("78"), rank=2, classification="Khá"),
                      "SAME": PreviousResult(total=D("74"), rank=3, classification="Khá"),
                      "DOWN": PreviousResult(total=D("80"), rank=1, classification="Tốt"),
                  })
    rows = {row.unit_code: row for row in result.rows}
    assert (rows["UP"].previous_classification, rows["UP"].classification,
            rows["UP"].classification_changed) == ("Khá", "Tốt", True)
    assert rows["SAME"].classification_changed is False
    assert (rows["DOWN"].classification, rows["DOWN"].classification_changed) == (
        "Trung bình", True)


def test_previous_class_counts_cover_the_previous_ranked_units_with_zeros():
    result = rank([standing("A", "92"), standing("B", "85")], previous={
        "A": PreviousResult(total=D("85"), rank=1, classification="Tốt"),
        "B": PreviousResult(total=D("75"), rank=3, classification="Khá"),
        "GONE": PreviousResult(total=D("80"), rank=2, classification="Tốt"),
        "TTR": PreviousResult(total=D("99"), rank=None, classification="Xuất sắc"),
    })
    assert result.previous_class_counts == {
        "Xuất sắc": 0, "Tốt": 2, "Khá": 1, "Trung bình": 0, "Yếu": 0}
    assert result.class_counts == {"Xuất sắc": 1, "Tốt": 1, "Khá": 0, "Trung bình": 0, "Yếu": 0}


def test_previous_class_counts_use_the_previous_scheme_when_given():
    old_scheme = [{"label": "Tốt", "min_total": "80"}, {"label": "Khá", "min_total": "0"}]
    result = rank([standing("A", "92")],
                  previous={"A": PreviousResult(total=D("85"), rank=1, classification="Tốt")},
                  previous_classification=old_scheme)
    assert result.previous_class_counts == {"Tốt": 1, "Khá": 0}


def test_an_empty_previous_cycle_gives_zero_previous_counts():
    result = rank([standing("A", "92")], previous={})
    assert result.previous_class_counts == dict.fromkeys(LABELS, 0)
    assert result.rows[0].previous_total is None


# --- empty group and bad input ------------------------------------------------------------------

def test_an_empty_group_has_no_rows_and_no_statistics():
    result = rank([])
    assert result.rows == []
    assert result.ranked_count == 0
    assert (result.average, result.minimum, result.maximum, result.gap) == (None,) * 4
    assert result.above_average == 0
    assert result.class_counts == dict.fromkeys(LABELS, 0)
    assert result.previous_class_counts is None


def test_a_unit_listed_twice_in_one_group_is_refused():
    with pytest.raises(ValueError, match="twice"):
        rank([standing("A", "90"), standing("A", "80")])


def test_a_total_that_is_not_a_finite_decimal_is_refused():
    with pytest.raises(ValueError, match="finite"):
        rank([standing("A", "NaN")])


# --- properties ---------------------------------------------------------------------------------

PROPERTIES = settings(max_examples=100, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])
TOTALS = st.decimals(min_value=0, max_value=110, places=4, allow_nan=False,
                     allow_infinity=False)


@st.composite
def groups(draw: st.DrawFn) -> list[Standing]:
    """Up to 12 units whose totals come from a small pool, so ties are frequent; about one unit in
    four is evaluated only."""
    pool = draw(st.lists(TOTALS, min_size=1, max_size=5))
    size = draw(st.integers(0, 12))
    codes = draw(st.permutations([f"U{i:02d}" for i in range(size)]))
    return [standing(code, draw(st.sampled_from(pool)),
                     ranked=draw(st.integers(0, 3)) > 0) for code in codes]


RULES = st.sampled_from(list(RankingRule))


def ranked_rows(result: GroupRanking):
    return [row for row in result.rows if row.ranked]


@PROPERTIES
@given(groups(), RULES)
def test_ranks_never_decrease_along_the_rows_and_unranked_rows_come_last(units, rule):
    result = rank_group(units, rule, DEFAULT_CLASSIFICATION)
    ranks = [row.rank for row in result.rows]
    numbered = [r for r in ranks if r is not None]
    assert ranks == numbered + [None] * (len(ranks) - len(numbered))
    assert numbered == sorted(numbered)
    assert [row.unit_code for row in result.rows[:len(numbered)]] == [
        row.unit_code for row in sorted(ranked_rows(result), key=lambda r: (r.rank, r.unit_code))]
    unranked = result.rows[len(numbered):]
    assert [row.total for row in unranked] == sorted((row.total for row in unranked),
                                                     reverse=True)


@PROPERTIES
@given(groups(), RULES)
def test_a_strictly_higher_total_always_has_a_strictly_better_rank(units, rule):
    rows = ranked_rows(rank_group(units, rule, DEFAULT_CLASSIFICATION))
    for a in rows:
        for b in rows:
            if a.total > b.total:
                assert a.rank < b.rank
            if a.total == b.total:
                assert a.rank == b.rank


@PROPERTIES
@given(groups())
def test_competition_rank_is_one_plus_the_number_of_ranked_units_strictly_higher(units):
    result = rank_group(units, COMPETITION, DEFAULT_CLASSIFICATION)
    ranked_totals = [unit.total for unit in units if unit.ranked]
    for row in ranked_rows(result):
        assert row.rank == 1 + sum(1 for total in ranked_totals if total > row.total)


@PROPERTIES
@given(groups())
def test_dense_rank_is_one_plus_the_number_of_distinct_higher_totals(units):
    result = rank_group(units, DENSE, DEFAULT_CLASSIFICATION)
    ranked_totals = {unit.total for unit in units if unit.ranked}
    for row in ranked_rows(result):
        assert row.rank == 1 + sum(1 for total in ranked_totals if total > row.total)


@PROPERTIES
@given(groups(), RULES)
def test_every_input_unit_appears_in_exactly_one_row(units, rule):
    result = rank_group(units, rule, DEFAULT_CLASSIFICATION)
    assert len(result.rows) == len(units)
    assert sorted(row.unit_code for row in result.rows) == sorted(u.unit_code for u in units)
    assert result.ranked_count == sum(1 for unit in units if unit.ranked)


@PROPERTIES
@given(groups(), RULES)
def test_statistics_ignore_evaluated_only_units(units, rule):
    everyone = rank_group(units, rule, DEFAULT_CLASSIFICATION)
    ranked_only = rank_group([u for u in units if u.ranked], rule, DEFAULT_CLASSIFICATION)
    assert (everyone.average, everyone.above_average, everyone.minimum, everyone.maximum,
            everyone.gap, everyone.class_counts, everyone.ranked_count) == (
        ranked_only.average, ranked_only.above_average, ranked_only.minimum,
        ranked_only.maximum, ranked_only.gap, ranked_only.class_counts, ranked_only.ranked_count)
    assert ranked_rows(everyone) == ranked_only.rows
    assert sum(everyone.class_counts.values()) == everyone.ranked_count
    assert everyone.above_average == sum(1 for row in everyone.rows if row.above_average)
    if everyone.ranked_count:
        assert everyone.minimum <= everyone.average <= everyone.maximum
        assert everyone.above_average < everyone.ranked_count


@PROPERTIES
@given(groups(), RULES, st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_input_order(units, rule, random):
    shuffled = list(units)
    random.shuffle(shuffled)
    assert rank_group(shuffled, rule, DEFAULT_CLASSIFICATION) == rank_group(
        units, rule, DEFAULT_CLASSIFICATION)
