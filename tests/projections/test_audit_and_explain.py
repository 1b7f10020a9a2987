"""The audit trail: every audited event once, filters by unit, item, actor, kind and time range,
cursor pages that concatenate to the full ordered list; explain(): each item's points traced to
the event that set them, and totals that add up through the tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.errors import InvalidInput
from domain.scorecard.model import Scorecard
from projections.queries import AsOf, ReadModel
from tests.builders import APPRAISER, COUNCIL, SECRETARIAT, cycle_with_units, officer
from tests.projections.helpers import all_events, live_runner_later, run_to_head, walk

UNITS = ("STC", "SNV", "STP")
KINDS = {Scorecard.SelfScoreRecorded: "self_score", Scorecard.SurveyPointsApplied: "survey",
         Scorecard.PointsCorrected: "correction", Scorecard.ExplanationSubmitted: "explanation",
         Scorecard.EvidenceAttached: "evidence_attached",
         Scorecard.EvidenceWithdrawn: "evidence_withdrawn", Scorecard.BonusAwarded: "bonus",
         Scorecard.PenaltyImposed: "penalty",
         Scorecard.BonusOrPenaltyWithdrawn: "bonus_penalty_withdrawn"}


def _kind(event: Any) -> str | None:
    if isinstance(event, Scorecard.ItemAppraised):
        return f"appraisal_round_{event.round}"
    return KINDS.get(type(event))


@pytest.fixture
def walked(app, views):
    """A cycle walked to a correction, and the views caught up; (scenario, moments)."""
    scenario = cycle_with_units(app, units=UNITS)
    moments = dict(walk(scenario))
    run_to_head(app, views)
    return scenario, moments


def _expected(app, scenario) -> list[dict[str, Any]]:
    """The audit trail derived independently, from the stored events."""
    units = {card: unit for unit, card in scenario.scorecards.items()}
    rows = []
    for position, event in all_events(app):
        kind = _kind(event)
        if kind is None or event.originator_id not in units:
            continue
        rows.append({"position": position, "kind": kind, "unit_code": units[event.originator_id],
                     "item_code": getattr(event, "item_code", None),
                     "actor_id": event.actor_id, "recorded_at": event.timestamp,
                     "event_id": f"{event.originator_id}:{event.originator_version}",
                     "scorecard_id": str(event.originator_id)})
    return rows


def _all_pages(read_model: ReadModel, limit: int, **filters: Any) -> list[dict[str, Any]]:
    rows, cursor, pages = [], None, 0
    while True:
        page = read_model.audit(after=cursor, limit=limit, **filters)
        pages += 1
        assert len(page["rows"]) <= limit
        rows.extend(page["rows"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["rows"][-1]["position"] and len(page["rows"]) == limit
        assert pages < 1000
    return rows


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _subset(rows, **match) -> list[int]:
    return [r["position"] for r in rows if all(r[k] == v for k, v in match.items())]


def test_the_audit_trail_filters_and_pages(app, read_model, walked):
    scenario, moments = walked
    expected = _expected(app, scenario)
    assert {row["kind"] for row in expected} >= set(KINDS.values())
    full = read_model.audit(cycle_ref=scenario.cycle_id, limit=500)
    assert full["next_cursor"] is None
    rows = full["rows"]
    assert [(r["position"], r["kind"], r["unit_code"], r["item_code"], r["actor_id"],
             r["event_id"], r["scorecard_id"]) for r in rows] == \
        [(e["position"], e["kind"], e["unit_code"], e["item_code"], e["actor_id"],
          e["event_id"], e["scorecard_id"]) for e in expected]
    assert [_at(r["recorded_at"]) for r in rows] == [e["recorded_at"] for e in expected]
    assert read_model.audit(limit=500)["rows"] == rows  # one cycle in the store

    # Pages of every size concatenate to the full list: ordered, nothing twice, nothing lost.
    for limit in (1, 4, 7, len(rows) - 1, len(rows)):
        assert _all_pages(read_model, limit, cycle_ref=scenario.cycle_id) == rows

    # Each filter, alone, combined, and paged.
    for filters, match in (
            ({"unit_code": "STC"}, {"unit_code": "STC"}),
            ({"item_code": "2.4"}, {"item_code": "2.4"}),
            ({"actor_id": APPRAISER.id}, {"actor_id": APPRAISER.id}),
            ({"actor_id": officer("SNV").id}, {"actor_id": officer("SNV").id}),
            ({"kind": "appraisal_round_1"}, {"kind": "appraisal_round_1"}),
            ({"kind": "correction"}, {"kind": "correction"}),
            ({"unit_code": "SNV", "kind": "self_score"}, {"unit_code": "SNV",
                                                         "kind": "self_score"}),
            ({"unit_code": "STC", "item_code": "1.1.1", "actor_id": officer("STC").id},
             {"unit_code": "STC", "item_code": "1.1.1", "actor_id": officer("STC").id}),
            ({"actor_id": COUNCIL.id, "kind": "bonus"}, {"actor_id": COUNCIL.id,
                                                         "kind": "bonus"})):
        wanted = _subset(rows, **match)
        assert wanted, filters
        assert [r["position"] for r in read_model.audit(limit=500, **filters)["rows"]] == \
            wanted, filters
        assert [r["position"] for r in _all_pages(read_model, 2, **filters)] == wanted, filters
    assert read_model.audit(unit_code="NOPE")["rows"] == []
    assert read_model.audit(cycle_ref=UUID(int=0))["rows"] == []

    # Time range, inclusive at both ends; any zone means the same instant.
    since, until = _at(rows[5]["recorded_at"]), _at(rows[-6]["recorded_at"])
    wanted = [r["position"] for r in rows if since <= _at(r["recorded_at"]) <= until]
    assert {rows[5]["position"], rows[-6]["position"]} <= set(wanted)
    assert 0 < len(wanted) < len(rows) - 8
    hanoi = timezone(timedelta(hours=7))
    for a, b in ((since, until), (since.astimezone(hanoi), until.astimezone(hanoi))):
        assert [r["position"] for r in _all_pages(read_model, 3, since=a, until=b)] == wanted
    assert [r["position"] for r in read_model.audit(
        since=since + timedelta(microseconds=1), limit=500)["rows"]] == \
        [r["position"] for r in rows if _at(r["recorded_at"]) > since]
    assert [r["position"] for r in read_model.audit(until=until, unit_code="SNV",
                                                    limit=500)["rows"]] == \
        [r["position"] for r in rows if _at(r["recorded_at"]) <= until
         and r["unit_code"] == "SNV"]

    # As of a past position: the trail as it stood.
    published = moments["published"]
    past = _all_pages(read_model, 5, as_of=AsOf(position=published))
    assert past == [r for r in rows if r["position"] <= published]
    assert "correction" not in {r["kind"] for r in past}

    for bad in ({"limit": 0}, {"limit": 501}, {"since": since.replace(tzinfo=None)},
                {"until": until.replace(tzinfo=None)}):
        with pytest.raises(InvalidInput):
            read_model.audit(**bad)


SETTERS = {"self": ("self_score",), "appraisal_round_1": ("appraisal_round_1",),
           "appraisal_round_2": ("appraisal_round_2",), "survey": ("survey",),
           "correction": ("correction",)}


def _nodes(nodes):
    for node in nodes:
        yield node
        yield from _nodes(node.get("children", ()))


def _check_explanation(view: dict[str, Any], expected: list[dict[str, Any]], unit: str,
                       upto: int) -> None:
    mine = [e for e in expected if e["unit_code"] == unit and e["position"] <= upto]
    totals = view["totals"]
    survey_points = appraised_points = appraised_applicable = Decimal(0)
    for node in _nodes(view["fields"]):
        points = Decimal(node["points"])
        if "item" not in node:
            assert points == sum(Decimal(c["points"]) for c in node["children"]), node["code"]
            assert Decimal(node["applicable_max"]) == sum(
                Decimal(c["applicable_max"]) for c in node["children"]), node["code"]
            continue
        item = node["item"]
        assert points == Decimal(item["final_points"] or 0), node["code"]
        history = [e for e in mine if e["item_code"] == node["code"]]
        assert [e["position"] for e in node["events"]] == [e["position"] for e in history]
        setting = [e for e in history if e["kind"] in SETTERS.get(item["source"], ())]
        if setting:
            # The last event of the kind that set the points — the one that counts.
            assert node["set_by"]["position"] == setting[-1]["position"], node["code"]
            assert node["set_by"]["event_id"] == setting[-1]["event_id"]
            if item["source"] != "self":
                assert node["set_by"]["new_value"] == item["final_points"], node["code"]
        else:
            assert node["set_by"] is None, node["code"]
        if node["method"]["kind"] == "survey":
            survey_points += points
        else:
            appraised_points += points
            appraised_applicable += Decimal(node["applicable_max"])
    fields = sum(Decimal(f["points"]) for f in view["fields"])
    assert fields == appraised_points + survey_points
    assert Decimal(totals["survey_part"]) == survey_points
    appraised_max = Decimal(totals["appraised_max"])
    if appraised_applicable == appraised_max:  # nothing dropped: the fields add up
        assert fields == Decimal(totals["appraised_part"]) + Decimal(totals["survey_part"])
    else:  # an item dropped as not applicable: rescaled to the full appraised maximum
        assert Decimal(totals["appraised_part"]) == \
            appraised_points * appraised_max / appraised_applicable
    base = Decimal(totals["appraised_part"]) + Decimal(totals["survey_part"])
    assert Decimal(totals["total"]) == max(
        Decimal(0), base + Decimal(totals["bonus"]) - Decimal(totals["penalty"]))
    assert [e["position"] for e in view["bonus_and_penalty_events"]] == \
        [e["position"] for e in mine if e["item_code"] is None]


def test_explain_traces_every_item_and_the_totals_add_up(app, read_model, walked):
    scenario, moments = walked
    expected = _expected(app, scenario)
    head = max(e["position"] for e in expected)
    dropped = []
    for unit in UNITS:
        for upto, as_of in ((head, None), (moments["published"],
                                           AsOf(position=moments["published"])),
                            (moments["round_1"], AsOf(position=moments["round_1"]))):
            view = read_model.explain(scenario.scorecards[unit], as_of)
            assert view["as_of_position"] >= upto
            _check_explanation(view, expected, unit, upto)
            dropped.append(view["totals"]["appraised_part"] != str(sum(
                Decimal(f["points"]) for f in view["fields"]
                if f["code"] != "8")))
    assert any(dropped), "the scenario drops an item (SNV 2.1) to exercise the rescale"

    # Before and after the correction: item 1.2 of STC was set by round 1, then corrected.
    def item_12(as_of):
        view = read_model.explain(scenario.scorecards["STC"], as_of)
        return next(n for n in _nodes(view["fields"]) if n["code"] == "1.2")

    before, after = item_12(AsOf(position=moments["published"])), item_12(None)
    assert before["item"]["source"] == "appraisal_round_1"
    assert before["set_by"]["kind"] == "appraisal_round_1"
    assert (before["set_by"]["old_value"], before["set_by"]["new_value"]) == ("1.50", "1.00")
    assert after["item"]["source"] == "correction"
    assert after["set_by"]["decision_ref"] == "QĐ 141/QĐ-UBND"
    assert (after["set_by"]["old_value"], after["set_by"]["new_value"]) == ("1.00", "1.50")


def test_an_as_of_trail_the_views_have_not_reached_waits_for_them(app, read_model):
    """The audit table only holds what the runner folded: an as-of trail (and explain) beyond
    that waits for the runner instead of answering with a silently shortened trail."""
    scenario = cycle_with_units(app, units=UNITS)
    stages = walk(scenario)
    next(stages)  # submitted
    run_to_head(app, read_model.views)
    folded = read_model.position()
    for _ in stages:  # the rest is written while no runner runs
        pass
    head = max(e["position"] for e in _expected(app, scenario))
    assert read_model.position() == folded < head
    with live_runner_later(app, read_model.views, delay=0.3):
        page = read_model.audit(as_of=AsOf(position=head), limit=500)
    assert [r["position"] for r in page["rows"]] == \
        [e["position"] for e in _expected(app, scenario)]
    assert page["as_of_position"] == head

    # The runner stopped again: a correction written now lags once more.
    card = scenario.scorecards["STC"]
    app.correct_points(SECRETARIAT, card, "2.2", "1", "Rà soát lại", "QĐ 150/QĐ-UBND")
    with live_runner_later(app, read_model.views, delay=0.3):
        view = read_model.explain(card, AsOf(position=head + 1))
    item = next(n for n in _nodes(view["fields"]) if n["code"] == "2.2")
    assert item["item"]["source"] == "correction"
    assert item["set_by"] is not None and item["set_by"]["position"] == head + 1
