"""Samples below the minimum and the secretariat's decisions; the aggregate form; rows of units
that another framework scores."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from domain.errors import InvalidInput, NotPermitted, PhaseClosed, ReasonRequired
from domain.scorecard.model import Scorecard
from domain.survey.model import SurveyImport
from tests.app.helpers import events_of
from tests.builders import APPRAISER, SECRETARIAT, schedule_from, small_framework
from tests.survey.helpers import (
    HEADER,
    head,
    import_bytes,
    respondents,
    sipas_mapping,
    table,
)

SMALL = respondents("STC", [(5, 5), (4, 2), (3, 5)]) + respondents("SNV", [(5, 4)] * 6)


def test_a_unit_below_the_minimum_sample_is_flagged_and_gets_no_points(app, survey, scenario):
    report = import_bytes(survey, scenario, table(HEADER, SMALL))
    assert report["insufficient_sample"] == [
        {"unit_code": "STC", "item_code": "8.2", "n": 3, "index": "0.6667",
         "points_if_applied": "2.00"}]
    stc = next(r for r in report["results"] if r["unit_code"] == "STC")
    assert stc["status"] == "insufficient_sample"
    assert "below the minimum valid sample 5" in stc["detail"]["formula"]
    assert events_of(app, scenario.scorecards["STC"], Scorecard.SurveyPointsApplied) == []
    assert app.scorecard(scenario.scorecards["SNV"]).item("8.2").survey_points == Decimal("3.00")
    assert [p["unit_code"] for p in survey.report(UUID(report["import_id"]))["pending"]] == [
        "STC"]


def test_the_secretariat_applies_the_small_sample_anyway_with_a_reason(app, survey, scenario):
    report = import_bytes(survey, scenario, table(HEADER, SMALL))
    import_id = UUID(report["import_id"])
    with pytest.raises(ReasonRequired):
        survey.decide(SECRETARIAT, import_id, "STC", "8.2", "apply_anyway", "  ")
    with pytest.raises(NotPermitted):
        survey.decide(APPRAISER, import_id, "STC", "8.2", "apply_anyway", "vì sao")
    result = survey.decide(SECRETARIAT, import_id, "STC", None, "apply_anyway",
                           "Hội đồng quyết định sử dụng kết quả (biên bản 02/BB-HĐ)")
    assert result["pending"] == [] and result["position"] == head(app)
    card = app.scorecard(scenario.scorecards["STC"])
    assert card.item("8.2").survey_points == Decimal("2.00")
    [applied] = events_of(app, scenario.scorecards["STC"], Scorecard.SurveyPointsApplied)
    assert applied.detail["decision"] == "apply_anyway"
    assert applied.detail["reason"].startswith("Hội đồng quyết định")
    assert applied.detail["n"] == 3 and applied.survey_import_id == import_id
    [decided] = events_of(app, import_id, SurveyImport.SampleDecided)
    assert (decided.unit_code, decided.points, decided.actor_id) == (
        "STC", Decimal("2.00"), SECRETARIAT.id)


def test_the_secretariat_sets_points_instead(app, survey, scenario):
    report = import_bytes(survey, scenario, table(HEADER, SMALL))
    import_id = UUID(report["import_id"])
    with pytest.raises(InvalidInput):
        survey.decide(SECRETARIAT, import_id, "STC", "8.2", "set_points", "lý do")  # no points
    with pytest.raises(InvalidInput):
        survey.decide(SECRETARIAT, import_id, "STC", "8.2", "set_points", "lý do", "3.5")
    survey.decide(SECRETARIAT, import_id, "STC", "8.2", "set_points",
                  "Khảo sát bổ sung theo biên bản 03/BB-HĐ", "1.50")
    assert app.scorecard(scenario.scorecards["STC"]).item("8.2").survey_points == Decimal("1.50")
    assert survey.report(import_id)["decisions"][0]["decision"] == "set_points"


def test_decisions_are_only_for_flagged_results_of_the_standing_import(app, survey, scenario):
    first = import_bytes(survey, scenario, table(HEADER, SMALL))
    before = head(app)
    with pytest.raises(InvalidInput):  # SNV's sample was sufficient
        survey.decide(SECRETARIAT, UUID(first["import_id"]), "SNV", "8.2", "apply_anyway", "x")
    assert head(app) == before
    second = import_bytes(survey, scenario, table(HEADER, SMALL + respondents(
        "STC", [(4, 4)] * 3, start=10)))
    assert second["insufficient_sample"] == []
    with pytest.raises(PhaseClosed):
        survey.decide(SECRETARIAT, UUID(first["import_id"]), "STC", "8.2", "apply_anyway", "x")


def test_a_unit_without_responses_cannot_be_applied_anyway_but_can_be_set(app, survey,
                                                                          scenario):
    report = import_bytes(survey, scenario, table(HEADER, respondents("SNV", [(5, 4)] * 6)))
    import_id = UUID(report["import_id"])
    assert report["insufficient_sample"][0]["n"] == 0
    with pytest.raises(InvalidInput):
        survey.decide(SECRETARIAT, import_id, "STC", "8.2", "apply_anyway", "lý do")
    survey.decide(SECRETARIAT, import_id, "STC", "8.2", "set_points", "Không khảo sát được",
                  "0")
    assert survey.report(import_id)["pending"] == []


def test_a_decision_is_replaced_when_a_corrected_file_supersedes_the_import(app, survey,
                                                                          scenario):
    first = import_bytes(survey, scenario, table(HEADER, SMALL))
    survey.decide(SECRETARIAT, UUID(first["import_id"]), "STC", "8.2", "apply_anyway", "lý do")
    second = import_bytes(survey, scenario, table(HEADER, [*SMALL, ["STC-X", "STC", 1, 1]]))
    assert [(w["unit_code"], w["previous_points"]) for w in second["withheld"]] == [
        ("STC", "2.00")]
    assert app.scorecard(scenario.scorecards["STC"]).item("8.2").survey_points == Decimal("0.00")


# -- aggregates ---------------------------------------------------------------------------------

AGG_HEADER = ["unit_code", "indicator", "n", "satisfied_share", "mean"]


def test_pre_aggregated_results_are_imported_with_their_rows(app, survey, scenario):
    rows = [["STC", "SIPAS", 120, "0.8734", ""], ["SNV", "SIPAS", 95, "91,2%", ""]]
    report = import_bytes(survey, scenario, table(AGG_HEADER, rows), name="doi-tac.csv")
    assert report["form"] == "aggregates"
    by_unit = {r["unit_code"]: r for r in report["results"]}
    assert (by_unit["STC"]["index"], by_unit["STC"]["points"]) == ("0.8734", "2.62")
    assert (by_unit["SNV"]["index"], by_unit["SNV"]["points"]) == ("0.9120", "2.74")
    assert by_unit["STC"]["detail"]["indicators"]["SIPAS"] == {
        "row": 2, "n": 120, "satisfied_share": "0.873400"}
    assert "(row 2)" in by_unit["STC"]["detail"]["formula"]
    card = app.scorecard(scenario.scorecards["SNV"])
    assert card.item("8.2").survey_points == Decimal("2.74")


def test_aggregated_means_are_rescaled_and_small_n_is_flagged(app, survey, scenario):
    rows = [["STC", "KSCB", 40, "", "4.2"], ["SNV", "KSCB", 3, "", "5"]]
    report = import_bytes(survey, scenario, table(AGG_HEADER, rows), mapping="SO-KSCB")
    by_unit = {r["unit_code"]: r for r in report["results"]}
    assert (by_unit["STC"]["index"], by_unit["STC"]["points"]) == ("0.8000", "2.40")
    assert by_unit["SNV"]["status"] == "insufficient_sample"


def test_the_form_can_be_forced(app, survey, scenario):
    rows = [["STC", "SIPAS", 120, "0.8", ""], ["SNV", "SIPAS", 95, "0.9", ""]]
    before = head(app)
    with pytest.raises(InvalidInput):
        import_bytes(survey, scenario, table(AGG_HEADER, rows), form="responses")
    assert head(app) == before


# -- two groups -----------------------------------------------------------------------------------

def test_rows_of_units_scored_by_another_framework_are_set_aside(app, survey):
    so = app.define_framework(SECRETARIAT, small_framework(group="SO"))
    xa = app.define_framework(SECRETARIAT, small_framework(group="XA"))
    for framework in (so, xa):
        app.publish_framework(SECRETARIAT, framework.aggregate_id)
    cycle = app.open_cycle(SECRETARIAT, province="Khánh Hòa", year=2025, title="2025",
                           groups=[{"code": "SO", "name": "Sở",
                                    "framework_id": str(so.aggregate_id)},
                                   {"code": "XA", "name": "Xã",
                                    "framework_id": str(xa.aggregate_id)}],
                           schedule=schedule_from(app.clock()))
    app.enrol_units(SECRETARIAT, cycle.aggregate_id, [
        {"code": "STC", "name": "Sở Tài chính", "group": "SO"},
        {"code": "X-DAILANH", "name": "Xã Đại Lãnh", "group": "XA"}])
    from domain.cycle.phases import Phase

    app.advance_phase(SECRETARIAT, cycle.aggregate_id, Phase.SELF_ASSESSMENT)
    survey.define_mapping(SECRETARIAT, sipas_mapping())
    survey.define_mapping(SECRETARIAT, sipas_mapping(code="XA-SIPAS", framework_code="XA-2025"))
    province_file = table(HEADER, respondents("STC", [(5, 5)] * 5)
                          + respondents("X-DAILANH", [(4, 3)] * 5))
    blob = survey.store([province_file])
    so_report = survey.import_file(SECRETARIAT, cycle.aggregate_id, "SO-SIPAS", blob, "tinh.csv")
    assert so_report["rows"] == {"read": 10, "used": 5, "rejected": 5}
    assert "group XA" in so_report["rejected_rows"][0]["reason"]
    assert [r["unit_code"] for r in so_report["results"]] == ["STC"]
    xa_report = survey.import_file(SECRETARIAT, cycle.aggregate_id, "XA-SIPAS", blob, "tinh.csv")
    assert [(r["unit_code"], r["points"]) for r in xa_report["results"]] == [
        ("X-DAILANH", "1.50")]
    assert xa_report["supersedes"] is None  # another framework: another series
    assert len(survey.imports_of(cycle.aggregate_id)) == 2
