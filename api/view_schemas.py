"""Response bodies of the views (documentation and schemathesis's conformance checks).

Decimals are strings, exact: "88.805" ranks above "88.8049" even though both display 88.81.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Dec = str


class Group(BaseModel):
    code: str = Field(examples=["SO"])
    name: str = Field(examples=["Khối sở, ban, ngành"])
    framework_id: str
    classification: list[dict[str, str]]


class CycleUnit(BaseModel):
    code: str
    name: str
    group: str
    ranked: bool
    scorecard_id: str


class CycleDetail(BaseModel):
    groups: list[Group]
    units: list[CycleUnit]
    schedule: dict[str, str]
    extensions: list[dict[str, str]]
    appraisers: dict[str, list[str]]
    approval: dict[str, str] | None
    publication: dict[str, str] | None


class CycleView(BaseModel):
    cycle_id: str
    province: str = Field(examples=["Khánh Hòa"])
    year: int = Field(examples=[2025])
    title: str
    phase: str = Field(examples=["published"])
    ranking_rule: str = Field(examples=["competition"])
    aggregate_version: int
    detail: CycleDetail
    as_of_position: int | None = None


class RankingRow(BaseModel):
    scorecard_id: str
    rank: int | None = Field(description="null for evaluated-only units", examples=[3])
    unit_code: str = Field(examples=["STC"])
    unit_name: str = Field(examples=["Sở Tài chính"])
    ranked: bool
    total: Dec = Field(examples=["89.11"])
    total_display: str = Field(examples=["89.11"])
    appraised_part: Dec
    survey_part: Dec
    bonus: Dec
    penalty: Dec
    classification: str = Field(examples=["Tốt"])
    above_average: bool | None
    previous_total: Dec | None
    total_delta: Dec | None = Field(examples=["+1.88"])
    previous_rank: int | None
    rank_delta: int | None = Field(description="positive: moved up", examples=[3])
    previous_classification: str | None
    classification_changed: bool | None


class RankingView(BaseModel):
    cycle_id: str
    province: str
    year: int
    group_code: str
    group_name: str
    phase: str
    rule: str
    published: bool
    rows: list[RankingRow]
    ranked_count: int
    average: Dec | None
    above_average: int
    minimum: Dec | None
    maximum: Dec | None
    gap: Dec | None
    class_counts: dict[str, int]
    previous_class_counts: dict[str, int] | None
    as_of_position: int


class FieldRow(BaseModel):
    unit_code: str
    unit_name: str
    ranked: bool
    points: Dec = Field(examples=["10.59"])
    max_points: Dec = Field(examples=["11.00"])
    applicable_max: Dec
    percent: Dec = Field(examples=["96.27"])
    points_lost: Dec


class FieldComparisonView(BaseModel):
    cycle_id: str
    group_code: str
    field_code: str
    field_title: str
    max_points: Dec
    rows: list[FieldRow]
    as_of_position: int


class EventRef(BaseModel):
    position: int
    event_id: str = Field(description="aggregate id : version")
    recorded_at: str
    kind: str = Field(examples=["appraisal_round_1"])
    old_value: str | None
    new_value: str | None
    actor_id: str
    actor_role: str
    reason: str | None
    decision_ref: str | None


class Node(BaseModel):
    code: str = Field(examples=["1.1.2"])
    title: str
    level: str = Field(examples=["subcriterion"])
    points: Dec
    max_points: Dec
    applicable_max: Dec
    percent: Dec
    method: dict[str, Any] | None = None
    item: dict[str, Any] | None = Field(
        default=None, description="declared values, self-score, round 1, explanation, round 2, "
        "survey points, correction, final points and their source, evidence")
    events: list[EventRef] | None = None
    set_by: EventRef | None = None
    children: list[Node] | None = None


class Totals(BaseModel):
    appraised_part: Dec
    survey_part: Dec
    bonus: Dec
    penalty: Dec
    total: Dec = Field(examples=["88.81"])
    total_percent: Dec
    self_assessed_appraised_part: Dec
    appraised_max: Dec
    survey_max: Dec


class ScorecardView(BaseModel):
    scorecard_id: str
    cycle_id: str
    unit_code: str
    unit_name: str
    group_code: str
    ranked: bool
    status: str = Field(examples=["submitted"])
    version: int
    totals: Totals
    bonus_entries: dict[str, dict[str, str]]
    penalty_entries: dict[str, dict[str, str]]
    fields: list[Node]
    as_of_position: int
    bonus_and_penalty_events: list[EventRef] | None = None
    derivation: str | None = None


class AuditRow(BaseModel):
    position: int
    event_id: str
    recorded_at: str
    cycle_id: str
    scorecard_id: str
    unit_code: str
    item_code: str | None
    kind: str = Field(examples=["correction"])
    old_value: str | None = Field(examples=["2.25"])
    new_value: str | None = Field(examples=["3.00"])
    actor_id: str = Field(examples=["snv.phong-cchc"])
    actor_role: str = Field(examples=["secretariat"])
    reason: str | None
    decision_ref: str | None = Field(examples=["QĐ 1057/QĐ-UBND"])


class AuditPage(BaseModel):
    rows: list[AuditRow]
    next_cursor: str | None = Field(description="pass back as `cursor`; null on the last page")
    as_of_position: int


def ok(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description},
            304: {"description": "unchanged since the ETag in If-None-Match"}}


def ok_list(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": list[model], "description": description},  # type: ignore[valid-type]
            304: {"description": "unchanged since the ETag in If-None-Match"}}
