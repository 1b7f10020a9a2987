"""Imports end to end: hand-computed points, traceability, dry run, idempotence, supersession,
atomicity, phases and permissions."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from uuid import UUID

import pytest

from domain.cycle.phases import Phase
from domain.errors import InvalidInput, NotPermitted, PhaseClosed
from domain.scorecard.model import Scorecard
from domain.survey.model import SurveyImport, SurveyImportSeries
from tests.app.helpers import events_of
from tests.builders import APPRAISER, SECRETARIAT, cycle_with_units
from tests.survey.helpers import (
    HEADER,
    KSCB,
    SIPAS,
    STANDARD,
    head,
    import_bytes,
    respondents,
    standard_file,
    store,
    table,
)


def survey_events(app, scenario, unit):
    return events_of(app, scenario.scorecards[unit], Scorecard.SurveyPointsApplied)


def test_points_are_hand_computed_and_trace_back_to_the_file_rows_and_formula(
        app, survey, scenario, blobs):
    content = standard_file()
    report = import_bytes(survey, scenario, content)
    assert report["status"] == "imported"
    import_id = UUID(report["import_id"])
    for unit, (index, points, n) in STANDARD.items():
        card = app.scorecard(scenario.scorecards[unit])
        assert card.item("8.2").survey_points == Decimal(points)
        assert card.item("8.2").survey_import_id == import_id
        [applied] = survey_events(app, scenario, unit)
        detail = applied.detail
        assert applied.survey_import_id == import_id
        assert detail["survey_import_id"] == str(import_id)
        assert detail["file_sha256"] == hashlib.sha256(content).hexdigest()
        assert detail["n"] == n and detail["index"] == index and detail["points"] == points
        assert f"= {index}" in detail["formula"] and f"= {points}" in detail["formula"]
        assert detail["mapping"] == {"code": SIPAS, "version": 1}
    stc = survey_events(app, scenario, "STC")[0].detail
    assert stc["questions"]["Q1"]["satisfied"] == 5 and stc["questions"]["Q1"]["valid"] == 8
    assert stc["questions"]["Q2"]["missing"] == 2
    assert "Q1 5/8, Q2 4/6" in stc["formula"]
    # The raw file is kept, content-addressed.
    assert blobs.read(hashlib.sha256(content).hexdigest()) == content
    # The import aggregate records who, what file, which mapping version, rows and results.
    recorded = survey.survey_import(import_id)
    assert recorded.recorded_by == SECRETARIAT.id
    assert recorded.mapping_code == SIPAS and recorded.mapping_version == 1
    assert recorded.file["sha256"] == hashlib.sha256(content).hexdigest()
    assert recorded.rows == {"read": 14, "used": 14, "rejected": 0}
    assert {(r["unit_code"], r["points"]) for r in recorded.results} == {
        ("STC", "1.94"), ("SNV", "2.00")}
    # The rows behind STC's result, read again from the stored file.
    trace = survey.trace(import_id, "STC")
    assert trace["total_rows"] == 8
    assert [r["row"] for r in trace["rows"]] == list(range(2, 10))
    assert trace["rows"][3]["answers"] == {"Q1": "2", "Q2": "dk"}
    assert trace["results"][0]["detail"]["formula"] == stc["formula"]


def test_the_explain_view_names_the_import_behind_survey_points(app, survey, scenario):
    from projections.queries import ReadModel
    from projections.store import ViewStore
    from tests.projections.helpers import run_to_head

    report = import_bytes(survey, scenario, standard_file())
    views = ViewStore(app.settings)
    try:
        run_to_head(app, views)
        explained = ReadModel(app, views).explain(scenario.scorecards["STC"])
    finally:
        views.close()
    items = {}

    def walk(node):
        if "item" in node:
            items[node["code"]] = node
        for child in node.get("children", ()):
            walk(child)

    for field in explained["fields"]:
        walk(field)
    survey_item = items["8.2"]
    assert survey_item["item"]["survey_import_id"] == report["import_id"]
    assert survey_item["item"]["final_points"] == "1.94"
    assert survey_item["set_by"]["kind"] == "survey"
    assert report["import_id"] in survey_item["set_by"]["reason"]


def test_a_dry_run_is_exactly_the_import_and_writes_nothing(app, survey, scenario):
    content = standard_file()
    before = head(app)
    dry = import_bytes(survey, scenario, content, dry_run=True)
    assert head(app) == before
    assert dry["status"] == "dry_run" and dry["position"] is None
    real = import_bytes(survey, scenario, content)
    assert real["status"] == "imported" and real["position"] == head(app)

    def plan(report):
        return {k: v for k, v in report.items() if k not in ("status", "position")}

    assert plan(dry) == plan(real)
    assert plan(real) == survey.survey_import(UUID(real["import_id"])).plan()
    assert dry["points"] == [{"unit_code": "SNV", "item_code": "8.2", "points": "2.00"},
                             {"unit_code": "STC", "item_code": "8.2", "points": "1.94"}]


def test_a_dry_run_of_a_superseding_file_shows_the_withheld_points(app, survey, scenario):
    import_bytes(survey, scenario, standard_file())
    corrected = table(HEADER, respondents("STC", [(5, 5)] * 6))  # SNV no longer in the file
    dry = import_bytes(survey, scenario, corrected, dry_run=True)
    real = import_bytes(survey, scenario, corrected)
    for key in ("supersedes", "withheld", "points", "results"):
        assert dry[key] == real[key]
    assert [(w["unit_code"], w["previous_points"]) for w in real["withheld"]] == [
        ("SNV", "2.00")]


def test_importing_the_same_file_again_writes_nothing(app, survey, scenario):
    first = import_bytes(survey, scenario, standard_file())
    before = head(app)
    again = import_bytes(survey, scenario, standard_file(), name="renamed.csv")
    assert head(app) == before
    assert again["status"] == "already_imported"
    assert again["import_id"] == first["import_id"]
    assert again["results"] == first["results"]
    assert survey.imports_of(scenario.cycle_id)[0]["imports"] == [first["import_id"]]


def test_a_corrected_file_supersedes_the_earlier_import_and_both_stay(app, survey, scenario):
    first = import_bytes(survey, scenario, standard_file())
    corrected_rows = respondents("STC", [(5, 5)] * 6) + respondents(
        "SNV", [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)])
    second = import_bytes(survey, scenario, table(HEADER, corrected_rows), name="v2.csv")
    assert second["status"] == "imported"
    assert second["supersedes"] == first["import_id"]
    assert second["withheld"] == []
    stc = app.scorecard(scenario.scorecards["STC"])
    snv = app.scorecard(scenario.scorecards["SNV"])
    assert stc.item("8.2").survey_points == Decimal("3.00")
    assert snv.item("8.2").survey_points == Decimal("1.20")  # 2/5 satisfied on both questions
    assert stc.item("8.2").survey_import_id == UUID(second["import_id"])
    old = survey.survey_import(UUID(first["import_id"]))
    assert old.superseded_by == UUID(second["import_id"])
    assert survey.report(UUID(first["import_id"]))["superseded_by"] == second["import_id"]
    assert [e.detail["survey_import_id"] for e in survey_events(app, scenario, "STC")] == [
        first["import_id"], second["import_id"]]
    [series] = survey.imports_of(scenario.cycle_id)
    assert series["imports"] == [first["import_id"], second["import_id"]]
    assert series["current"] == second["import_id"]
    assert isinstance(app.repository.get(UUID(series["series_id"])), SurveyImportSeries)


def test_a_unit_missing_from_the_corrected_file_loses_the_superseded_points(app, survey,
                                                                           scenario):
    import_bytes(survey, scenario, standard_file())
    second = import_bytes(survey, scenario, table(HEADER, respondents("STC", [(5, 5)] * 6)))
    snv = app.scorecard(scenario.scorecards["SNV"])
    assert snv.item("8.2").survey_points == Decimal("0.00")
    last = survey_events(app, scenario, "SNV")[-1]
    assert last.detail["withheld"] is True
    assert last.detail["previous_points"] == "2.00"
    assert last.survey_import_id == UUID(second["import_id"])
    # and the new import has SNV below the minimum sample, waiting for a decision
    assert [(p["unit_code"], p["n"]) for p in second["insufficient_sample"]] == [("SNV", 0)]


def test_a_new_mapping_version_reimports_the_same_file_as_a_new_import(app, survey, scenario):
    from tests.survey.helpers import sipas_mapping

    first = import_bytes(survey, scenario, standard_file())
    survey.revise_mapping(SECRETARIAT, SIPAS, sipas_mapping(items=[
        {"item_code": "8.2", "method": "rescaled_mean", "questions": ["Q1", "Q2"]}]),
        "Chuyển sang điểm trung bình quy đổi")
    second = import_bytes(survey, scenario, standard_file())
    assert second["status"] == "imported"
    assert second["mapping"]["version"] == 2
    assert second["supersedes"] == first["import_id"]
    # STC respondent means: 4.5, 4, 4, 2, 3, 4, 1.5, 5 → mean 28/8 = 3.5 → (3.5 − 1)/4 = 0.625
    stc = app.scorecard(scenario.scorecards["STC"])
    assert stc.item("8.2").survey_points == Decimal("1.88")  # 3 × 0.625 = 1.875 → 1.88
    detail = survey_events(app, scenario, "STC")[-1].detail
    assert detail["mean"] == "3.500000" and detail["index"] == "0.6250"
    assert detail["mapping"] == {"code": SIPAS, "version": 2}


def test_a_revision_with_the_same_document_records_no_version(app, survey, scenario):
    from tests.survey.helpers import sipas_mapping

    before = head(app)
    result = survey.revise_mapping(SECRETARIAT, SIPAS, sipas_mapping(), "không đổi")
    assert result.version == 1 and result.position is None and head(app) == before


def test_stratum_weights_weight_respondents_and_n_stays_unweighted(app, survey, scenario):
    from tests.survey.helpers import sipas_mapping

    survey.define_mapping(SECRETARIAT, sipas_mapping(
        code="SO-SIPAS-W", columns={"stratum": "dich_vu"},
        stratum_weights={"DV1": "3", "DV2": "1"},
        items=[{"item_code": "8.2", "method": "satisfied_share", "questions": ["Q1"]}]))
    rows = ([[f"A{i}", "STC", "DV1", 5] for i in range(3)]
            + [[f"B{i}", "STC", "DV2", 1] for i in range(3)]
            + [[f"C{i}", "SNV", "DV1", 4] for i in range(5)])
    report = import_bytes(survey, scenario, table(["respondent_id", "unit_code", "dich_vu",
                                                   "Q1"], rows), mapping="SO-SIPAS-W")
    stc = next(r for r in report["results"] if r["unit_code"] == "STC")
    # weighted share = 3·3 / (3·3 + 1·3) = 0.75; unweighted n = 6
    assert stc["index"] == "0.7500" and stc["points"] == "2.25" and stc["n"] == 6
    assert stc["detail"]["strata_n"] == {"DV1": 3, "DV2": 3}
    assert "weighted by stratum" in stc["detail"]["formula"]


def test_the_civil_servant_survey_uses_the_rescaled_mean(app, survey, scenario):
    rows = respondents("STC", [(5, 5, 5), (4, 4, "dk"), (3, 4, 5), (5, 4, 3), (2, "", 4)])
    rows += respondents("SNV", [(1, 1, 1)] * 5)
    report = import_bytes(survey, scenario, table(["respondent_id", "unit_code", "K1", "K2",
                                                   "K3"], rows), mapping=KSCB)
    by_unit = {r["unit_code"]: r for r in report["results"]}
    # STC respondent means 5, 4, 4, 4, 3 → 4 → index 0.75 → 3 × 0.75 = 2.25
    assert by_unit["STC"]["index"] == "0.7500" and by_unit["STC"]["points"] == "2.25"
    assert by_unit["SNV"]["index"] == "0.0000" and by_unit["SNV"]["points"] == "0.00"
    assert app.scorecard(scenario.scorecards["STC"]).item("8.1").survey_points == Decimal("2.25")


def test_rows_without_any_valid_answer_are_set_aside_with_their_reason(app, survey, scenario):
    rows = respondents("STC", [(5, 5)] * 5 + [("dk", "")] + [("Không biết", "99")])
    report = import_bytes(survey, scenario, table(HEADER, rows + respondents("SNV",
                                                                              [(4, 4)] * 5)))
    assert report["rows"] == {"read": 12, "used": 10, "rejected": 2}
    assert [(r["row"], r["respondent_id"]) for r in report["rejected_rows"]] == [
        (7, "STC-0006"), (8, "STC-0007")]
    assert "no valid answer" in report["rejected_rows"][0]["reason"]
    assert survey.survey_import(UUID(report["import_id"])).rejected_rows == report[
        "rejected_rows"]


def test_the_import_and_its_points_are_one_transaction(app, survey, scenario, monkeypatch):
    original = Scorecard.apply_survey_points

    def failing(self, actor, context, tree, item_code, points, import_id, detail):
        if self.unit_code == "STC":
            raise InvalidInput("simulated failure on the second scorecard", item=item_code)
        return original(self, actor, context, tree, item_code, points, import_id, detail)

    monkeypatch.setattr(Scorecard, "apply_survey_points", failing)
    before = head(app)
    with pytest.raises(InvalidInput):
        import_bytes(survey, scenario, standard_file())
    assert head(app) == before
    assert survey.imports_of(scenario.cycle_id) == []
    blob_sha = hashlib.sha256(standard_file()).hexdigest()
    monkeypatch.setattr(Scorecard, "apply_survey_points", original)
    report = import_bytes(survey, scenario, standard_file())
    assert report["file"]["sha256"] == blob_sha and report["status"] == "imported"


def test_imports_wait_for_self_assessment_and_stop_at_publication(app, survey):
    from tests.survey.helpers import sipas_mapping

    scenario = cycle_with_units(app, open_self_assessment=False)
    survey.define_mapping(SECRETARIAT, sipas_mapping())
    with pytest.raises(PhaseClosed):
        import_bytes(survey, scenario, standard_file(), dry_run=True)
    app.advance_phase(SECRETARIAT, scenario.cycle_id, Phase.SELF_ASSESSMENT)
    import_bytes(survey, scenario, standard_file())
    scenario.publish()
    before = head(app)
    with pytest.raises(PhaseClosed):
        import_bytes(survey, scenario, table(HEADER, respondents("STC", [(5, 5)] * 5)))
    assert head(app) == before


def test_only_the_secretariat_imports_or_defines_mappings(app, survey, scenario):
    from tests.survey.helpers import sipas_mapping

    blob = store(survey, standard_file())
    with pytest.raises(NotPermitted):
        survey.import_file(APPRAISER, scenario.cycle_id, SIPAS, blob, "a.csv", dry_run=True)
    with pytest.raises(NotPermitted):
        survey.define_mapping(APPRAISER, sipas_mapping(code="OTHER"))


def test_records_are_survey_import_aggregates_with_one_recorded_event(app, survey, scenario):
    report = import_bytes(survey, scenario, standard_file())
    [recorded] = events_of(app, UUID(report["import_id"]))
    assert isinstance(recorded, SurveyImport.Recorded)
    assert recorded.actor_id == SECRETARIAT.id and recorded.file["name"] == "sipas.csv"


def test_two_imports_racing_on_one_series_both_land_in_order(app, survey, scenario, store_url,
                                                            clock, blobs):
    from domain.application import ParIndex
    from domain.store.config import settings_from_url
    from domain.survey.service import SurveyService
    from tests.app.test_concurrency import InterleavingClock

    other_file = table(HEADER, respondents("STC", [(5, 5)] * 5) + respondents("SNV",
                                                                             [(5, 5)] * 5))
    others = []

    def other_import():  # commits after the second import loaded the series, before it saves
        others.append(import_bytes(survey, scenario, other_file, name="other.csv"))

    second_app = ParIndex(settings_from_url(store_url), clock=InterleavingClock(clock,
                                                                                 other_import))
    try:
        report = import_bytes(SurveyService(second_app, blobs), scenario, standard_file())
    finally:
        second_app.close()
    [other] = others
    assert other["status"] == "imported" and report["status"] == "imported"
    assert report["supersedes"] == other["import_id"]
    [series] = survey.imports_of(scenario.cycle_id)
    assert series["imports"] == [other["import_id"], report["import_id"]]
    assert app.scorecard(scenario.scorecards["STC"]).item("8.2").survey_points == Decimal("1.94")
    assert survey.survey_import(UUID(other["import_id"])).superseded_by == UUID(
        report["import_id"])
