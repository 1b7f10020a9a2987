"""Request and response bodies of the HTTP API (separate from events and aggregates).

Points travel as decimal strings ("1.50") or integers — never floats — so no value is ever
rounded by a JSON parser. Times are ISO 8601 with a zone.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

Points = str | int


def _iso_only(value: Any) -> Any:
    # pydantic would read 0.5 as a Unix timestamp; people and integrators send ISO 8601.
    if isinstance(value, str) and ("T" not in value or "-" not in value):
        raise ValueError("expected an ISO 8601 date-time with a zone, e.g. "
                         "2025-12-15T17:00:00+07:00")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_only)]
Code = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
Text = Annotated[str, Field(min_length=1, max_length=10_000, pattern=r"\S")]
PHASES = Literal["self_assessment", "appraisal_round_1", "explanation", "appraisal_round_2",
                 "council_approval", "published"]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandOut(BaseModel):
    """What a write did: the aggregate, its new version (the ETag) and the global position of
    its last event (pass it as `min_position` to read your own write)."""

    id: UUID
    version: int = Field(examples=[12])
    position: int | None = Field(description="null when nothing changed", examples=[4821])


class FrameworkIn(Body):
    document: dict[str, Any] = Field(description="the framework tree (see docs/events.md and "
                                     "domain/framework/structure.py)",
                                     examples=[{"code": "SO-2025", "title": "Khung chấm điểm",
                                                "year": 2025, "unit_group": "SO",
                                                "bonus_cap": "2", "penalty_cap": "2",
                                                "fields": []}])
    supersedes: UUID | None = Field(default=None,
                                    description="the framework this is the next version of")


class FrameworkRevisionIn(Body):
    document: dict[str, Any]
    reason: Text = Field(examples=["Sửa tên tiêu chí 3.2"])


class FrameworkOut(BaseModel):
    id: UUID
    code: Code
    version: int
    published: bool
    supersedes: UUID | None
    document: dict[str, Any]


class GroupIn(Body):
    code: Code = Field(examples=["SO"])
    name: Code = Field(examples=["Khối sở, ban, ngành"])
    framework_id: UUID
    classification: list[dict[str, str]] | None = Field(
        default=None, description="bands from the highest threshold down; default Xuất sắc ≥ "
        "90, Tốt ≥ 80, Khá ≥ 70, Trung bình ≥ 50, Yếu",
        examples=[[{"label": "Tốt", "min_total": "80"}, {"label": "Khá", "min_total": "0"}]])


class CycleIn(Body):
    province: Code = Field(examples=["Khánh Hòa"])
    year: int = Field(ge=2000, le=2100, examples=[2025])
    title: Text = Field(examples=["Xác định Chỉ số CCHC năm 2025"])
    groups: list[GroupIn] = Field(min_length=1)
    schedule: dict[str, IsoTime] = Field(description="deadline per phase: self_assessment, "
                                          "appraisal_round_1, explanation, appraisal_round_2, "
                                          "council_approval")
    ranking_rule: Literal["competition", "dense"] = "competition"


class UnitIn(Body):
    code: Code = Field(examples=["STC"])
    name: Code = Field(examples=["Sở Tài chính"])
    group: Code = Field(examples=["SO"])
    ranked: bool = True


class EnrolmentIn(Body):
    units: list[UnitIn] = Field(min_length=1)


class AppraiserAssignmentIn(Body):
    appraiser_id: Code = Field(min_length=1, examples=["tdd.nguyen-van-a"])
    unit_codes: list[Code] = Field(min_length=1, examples=[["STC", "SNV"]])


class PhaseIn(Body):
    to_phase: PHASES = Field(examples=["appraisal_round_1"])


class ExtensionIn(Body):
    unit_code: Code
    phase: Literal["self_assessment", "explanation"]
    until: IsoTime
    reason: Text = Field(examples=["Công văn 3120/SGDĐT-VP đề nghị gia hạn"])


class ApprovalIn(Body):
    decision_ref: Code = Field(min_length=1, examples=["Biên bản họp Hội đồng số 02/BB-HĐ"])
    note: str = ""


class PublicationIn(Body):
    decision_ref: Code = Field(min_length=1, examples=["QĐ 141/QĐ-UBND"])
    decision_date: date


class SurveyRowIn(Body):
    unit_code: Code
    item_code: Code
    points: Points
    detail: dict[str, Any] = Field(default_factory=dict)


class SurveyPointsIn(Body):
    survey_import_id: UUID
    results: list[SurveyRowIn] = Field(min_length=1)


class SelfScoreIn(Body):
    item_code: Code = Field(examples=["1.1.2"])
    declared: dict[str, Any] | None = Field(default=None,
                                            examples=[{"numerator": 19, "denominator": 20}])
    points: Points | None = Field(default=None, description="for judgement items",
                                  examples=["1.50"])
    not_applicable: bool = False
    note: str | None = None


class SelfScoresIn(Body):
    items: list[SelfScoreIn] = Field(min_length=1)


class AppraisalItemIn(Body):
    item_code: Code
    decision: Literal["accepted", "adjusted"]
    points: Points | None = None
    declared: dict[str, Any] | None = None
    reason: str = ""
    request_explanation: bool = False


class AppraisalIn(Body):
    round: Literal[1, 2]
    items: list[AppraisalItemIn] = Field(min_length=1)


class ExplanationIn(Body):
    item_code: Code
    text: Text = Field(examples=["Đã kiểm tra 3/10 đơn vị, đạt 30%"])


class BonusPenaltyIn(Body):
    entry_id: Code = Field(min_length=1, examples=["B1"])
    points: Points = Field(examples=["1.5"])
    reason: Text = Field(examples=["Mô hình một cửa số được Bộ Nội vụ ghi nhận"])


class ReasonIn(Body):
    reason: Text = Field(examples=["Đính kèm nhầm tiêu chí"])


class CorrectionIn(Body):
    item_code: Code
    points: Points
    reason: Text
    decision_ref: Code = Field(examples=["QĐ 200/QĐ-UBND"])


class EvidenceOut(BaseModel):
    scorecard_id: UUID
    item_code: Code
    sha256: str
    size: int
    media_type: str
    file_name: str
    version: int
    position: int | None
