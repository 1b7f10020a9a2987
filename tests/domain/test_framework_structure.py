"""Framework documents (PAR-INDEX.md §2, §8.5): parsing, structural rules, the canonical
document, and the Framework aggregate's draft → publish life."""

from __future__ import annotations

import copy
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings

from domain.actors import Actor, Role
from domain.errors import FrameworkImmutable, InvalidFramework, InvalidInput, NotPermitted
from domain.framework.model import Framework, framework_id
from domain.framework.structure import framework_document, parse_framework
from tests.builders import small_framework
from tests.domain.strategies import framework_documents

SECRETARIAT = Actor("snv.cchc", Role.SECRETARIAT)


def document() -> dict[str, Any]:
    return copy.deepcopy(small_framework())


def node_in(doc: dict[str, Any], code: str) -> dict[str, Any]:
    stack = list(doc["fields"])
    while stack:
        node = stack.pop()
        if node["code"] == code:
            return node
        stack.extend(node.get("children", []))
    raise KeyError(code)


def refusal(doc: object) -> InvalidFramework:
    with pytest.raises(InvalidFramework) as caught:
        parse_framework(doc)
    return caught.value


# --- a valid document --------------------------------------------------------------------------

def test_small_framework_is_accepted():
    tree = parse_framework(small_framework())
    assert tree.code == "SO-2025"
    assert tree.year == 2025
    assert tree.field_codes == ("1", "2", "8")


def test_small_framework_totals_20_points_of_which_6_are_survey_fed():
    tree = parse_framework(small_framework())
    assert tree.total_max == 20
    assert tree.survey_max == 6


def test_small_framework_has_eight_appraised_and_two_survey_items():
    tree = parse_framework(small_framework())
    kinds = {node.code: node.method.kind for node in tree.items()}
    assert len(kinds) == 10
    assert sorted(code for code, kind in kinds.items() if kind == "survey") == ["8.1", "8.2"]
    assert set(kinds.values()) == {"boolean", "tiered", "deduction", "proportional", "count",
                                   "levels", "judgement", "survey"}


def test_nodes_know_their_level_and_parent():
    tree = parse_framework(small_framework())
    assert (tree.nodes["1"].level, tree.nodes["1"].parent) == ("field", None)
    assert (tree.nodes["1.1"].level, tree.nodes["1.1"].parent) == ("criterion", "1")
    assert (tree.nodes["1.1.1"].level, tree.nodes["1.1.1"].parent) == ("subcriterion", "1.1")
    assert tree.field_of("1.1.2") == "1"


def test_a_criterion_without_children_is_itself_a_scored_item():
    tree = parse_framework(small_framework())
    assert tree.nodes["1.2"].is_item
    assert not tree.nodes["1.1"].is_item


# --- duplicate codes ---------------------------------------------------------------------------

def test_sibling_reusing_a_code_is_refused():
    doc = document()
    node_in(doc, "1.1.2")["code"] = "1.1.1"
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1.1", "code")


def test_code_reused_in_another_field_is_refused():
    doc = document()
    node_in(doc, "2.2")["code"] = "1.1.1"
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1.1", "code")


def test_child_reusing_its_parents_code_is_refused():
    doc = document()
    node_in(doc, "1.1.1")["code"] = "1.1"
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1", "code")


def test_sub_criterion_reusing_its_fields_code_is_refused():
    doc = document()
    node_in(doc, "1.1.2")["code"] = "1"
    error = refusal(doc)
    assert (error.item, error.field) == ("1", "code")


def test_codes_differing_only_in_unicode_normalisation_are_duplicates():
    doc = document()
    node_in(doc, "1.1.1")["code"] = unicodedata.normalize("NFC", "Đ.ấ")
    node_in(doc, "1.1.2")["code"] = unicodedata.normalize("NFD", "Đ.ấ")
    error = refusal(doc)
    assert error.field == "code"


# --- sums, methods and depth -------------------------------------------------------------------

def test_children_not_summing_to_their_parent_are_refused():
    doc = document()
    node_in(doc, "1")["max_points"] = "7"
    error = refusal(doc)
    assert (error.item, error.field) == ("1", "max_points")


def test_sub_criteria_not_summing_to_their_criterion_are_refused():
    doc = document()
    node_in(doc, "1.1.1")["max_points"] = "1.5"
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1", "max_points")


def test_field_with_a_method_is_refused():
    doc = document()
    field = node_in(doc, "2")
    del field["children"]
    field["method"] = {"kind": "judgement"}
    doc["fields"] = [node_in(doc, "1"), field, node_in(doc, "8")]
    error = refusal(doc)
    assert (error.item, error.field) == ("2", "method")


def test_node_with_both_children_and_a_method_is_refused():
    doc = document()
    node_in(doc, "1.1")["method"] = {"kind": "boolean"}
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1", "method")


def test_node_with_neither_children_nor_a_method_is_refused():
    doc = document()
    del node_in(doc, "2.2")["method"]
    error = refusal(doc)
    assert (error.item, error.field) == ("2.2", "method")


def test_a_fourth_level_is_refused():
    doc = document()
    leaf = node_in(doc, "1.1.1")
    del leaf["method"]
    leaf["children"] = [{"code": "1.1.1.1", "title": "Quá sâu", "max_points": "1",
                         "method": {"kind": "boolean"}}]
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1.1", "children")


def test_method_errors_name_the_item():
    doc = document()
    node_in(doc, "2.3")["method"] = {"kind": "lottery"}
    error = refusal(doc)
    assert (error.item, error.field) == ("2.3", "method.kind")


# --- not applicable ----------------------------------------------------------------------------

def test_unknown_not_applicable_rule_is_refused():
    doc = document()
    node_in(doc, "2.4")["not_applicable"] = "sometimes"
    error = refusal(doc)
    assert (error.item, error.field) == ("2.4", "not_applicable")


@pytest.mark.parametrize("rule", ["credit_max", "drop_from_denominator"])
def test_survey_item_cannot_be_not_applicable(rule):
    doc = document()
    node_in(doc, "8.1")["not_applicable"] = rule
    error = refusal(doc)
    assert (error.item, error.field) == ("8.1", "not_applicable")


def test_not_applicable_rules_are_kept_per_item():
    tree = parse_framework(small_framework())
    assert tree.nodes["2.1"].not_applicable == "drop_from_denominator"
    assert tree.nodes["2.4"].not_applicable == "credit_max"
    assert tree.nodes["2.2"].not_applicable is None


# --- scalar fields -----------------------------------------------------------------------------

@pytest.mark.parametrize("year", ["2025", 2025.0, True, None])
def test_year_that_is_not_a_whole_number_is_refused(year):
    doc = document()
    doc["year"] = year
    assert refusal(doc).field == "year"


@pytest.mark.parametrize("year", [1999, 2101])
def test_year_outside_2000_to_2100_is_refused(year):
    assert refusal(small_framework(year=year)).field == "year"


def test_max_points_with_three_decimals_are_refused():
    doc = document()
    node_in(doc, "1.1.1")["max_points"] = "1.005"
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1.1", "max_points")


def test_float_max_points_are_refused():
    doc = document()
    node_in(doc, "1.1.1")["max_points"] = 1.0
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1.1", "max_points")


@pytest.mark.parametrize("maximum", ["0", "-1"])
def test_max_points_that_are_not_positive_are_refused(maximum):
    doc = document()
    node_in(doc, "1.1.1")["max_points"] = maximum
    error = refusal(doc)
    assert (error.item, error.field) == ("1.1.1", "max_points")


def test_bonus_cap_with_three_decimals_is_refused():
    assert refusal(small_framework(bonus_cap="1.234")).field == "bonus_cap"


def test_float_penalty_cap_is_refused():
    assert refusal(small_framework(penalty_cap=2.0)).field == "penalty_cap"


def test_framework_without_fields_is_refused():
    assert refusal(small_framework(fields=[])).field == "fields"


def test_framework_that_is_not_an_object_is_refused():
    assert refusal([small_framework()]).field == "framework"


def test_empty_title_is_refused():
    doc = document()
    node_in(doc, "2.2")["title"] = "   "
    with pytest.raises(InvalidInput) as caught:
        parse_framework(doc)
    assert (caught.value.item, caught.value.field) == ("2.2", "title")


# --- Unicode -----------------------------------------------------------------------------------

def test_decomposed_vietnamese_titles_are_stored_composed():
    composed = "Cải cách thủ tục hành chính"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    doc = document()
    node_in(doc, "2")["title"] = decomposed
    doc["title"] = unicodedata.normalize("NFD", "Khung chấm điểm")
    tree = parse_framework(doc)
    assert tree.nodes["2"].title == composed
    assert tree.title == "Khung chấm điểm"


def test_decomposed_evidence_text_is_stored_composed_and_stripped():
    doc = document()
    node_in(doc, "1.1.1")["evidence"] = "  " + unicodedata.normalize("NFD", "Kế hoạch") + " "
    assert parse_framework(doc).nodes["1.1.1"].evidence == "Kế hoạch"


# --- canonical document ------------------------------------------------------------------------

def test_canonical_document_round_trips_to_the_same_tree():
    tree = parse_framework(small_framework())
    assert parse_framework(framework_document(tree)) == tree


def test_canonical_document_is_idempotent():
    once = framework_document(parse_framework(small_framework()))
    assert framework_document(parse_framework(once)) == once


def test_canonical_document_writes_points_at_two_decimals_as_text():
    canonical = framework_document(parse_framework(small_framework()))
    assert canonical["bonus_cap"] == "2.00"
    assert canonical["fields"][0]["max_points"] == "6.00"
    assert canonical["fields"][0]["children"][1]["method"] == {
        "kind": "deduction", "points_per_violation": "0.5", "floor": "0.00"}


@settings(max_examples=100, deadline=None)
@given(framework_documents())
def test_canonical_document_of_any_valid_framework_round_trips(doc):
    tree = parse_framework(doc)
    canonical = framework_document(tree)
    assert parse_framework(canonical) == tree
    assert framework_document(parse_framework(canonical)) == canonical


# --- the Framework aggregate -------------------------------------------------------------------

def test_draft_stores_the_canonical_document():
    framework = Framework.draft(SECRETARIAT, small_framework())
    assert framework.document == framework_document(parse_framework(small_framework()))
    assert framework.is_published is False
    assert framework.id == framework_id("SO-2025", 1)


def test_draft_refuses_an_invalid_document():
    with pytest.raises(InvalidFramework):
        Framework.draft(SECRETARIAT, small_framework(fields=[]))


def test_draft_can_be_revised_before_publication():
    framework = Framework.draft(SECRETARIAT, small_framework())
    framework.revise(SECRETARIAT, small_framework(title="Khung sửa đổi"), reason="Sửa tên")
    assert framework.document["title"] == "Khung sửa đổi"


def test_published_framework_cannot_be_revised():
    framework = Framework.draft(SECRETARIAT, small_framework())
    framework.publish(SECRETARIAT)
    with pytest.raises(FrameworkImmutable):
        framework.revise(SECRETARIAT, small_framework(title="Khung sửa đổi"), reason="Sửa tên")
    assert framework.document["title"] == "Khung chấm điểm thử nghiệm"


def test_framework_cannot_be_published_twice():
    framework = Framework.draft(SECRETARIAT, small_framework())
    framework.publish(SECRETARIAT)
    with pytest.raises(FrameworkImmutable):
        framework.publish(SECRETARIAT)


def test_revision_cannot_change_the_framework_code():
    framework = Framework.draft(SECRETARIAT, small_framework())
    with pytest.raises(FrameworkImmutable):
        framework.revise(SECRETARIAT, small_framework(code="KHAC-2025"), reason="Đổi mã")


NON_SECRETARIAT = [
    Actor("stc.chuyen-vien", Role.UNIT_OFFICER, "STC"),
    Actor("stc.giam-doc", Role.UNIT_HEAD, "STC"),
    Actor("tdd.a", Role.APPRAISER),
    Actor("hd.chu-tich", Role.COUNCIL),
    Actor("thanh-tra.b", Role.INSPECTOR),
    Actor("he-thong-khac", Role.INTEGRATOR),
    Actor("system", Role.SYSTEM),
]


@pytest.mark.parametrize("actor", NON_SECRETARIAT, ids=lambda actor: actor.role.value)
def test_only_the_secretariat_may_draft_a_framework(actor):
    with pytest.raises(NotPermitted):
        Framework.draft(actor, small_framework())


@pytest.mark.parametrize("actor", NON_SECRETARIAT, ids=lambda actor: actor.role.value)
def test_only_the_secretariat_may_publish_a_framework(actor):
    framework = Framework.draft(SECRETARIAT, small_framework())
    with pytest.raises(NotPermitted):
        framework.publish(actor)
    assert framework.is_published is False


def test_drafting_and_publishing_record_drafted_and_published_events_with_the_actor():
    framework = Framework.draft(SECRETARIAT, small_framework())
    framework.publish(SECRETARIAT)
    events = framework.collect_events()
    assert [type(event) for event in events] == [Framework.Drafted, Framework.Published]
    for event in events:
        assert (event.actor_id, event.actor_role) == ("snv.cchc", Role.SECRETARIAT)
    drafted = events[0]
    assert (drafted.code, drafted.version, drafted.supersedes) == ("SO-2025", 1, None)
    assert drafted.document == framework.document
