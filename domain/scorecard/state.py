"""The per-item state a scorecard folds its events into, and how final points are chosen."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID


class Status(Enum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    LOCKED = "locked_at_deadline"


class Decision(Enum):
    ACCEPTED = "accepted"  # keep the points standing before this round
    ADJUSTED = "adjusted"  # new points, reason mandatory


class EvidencePurpose(Enum):
    SELF_ASSESSMENT = "self_assessment"
    EXPLANATION = "explanation"


class PointsSource(Enum):
    NONE = "none"
    SELF = "self"
    APPRAISAL_1 = "appraisal_round_1"
    APPRAISAL_2 = "appraisal_round_2"
    SURVEY = "survey"
    CORRECTION = "correction"


@dataclass(frozen=True)
class ItemState:
    """One sub-criterion on one scorecard. Immutable: events replace it."""

    code: str
    declared: dict[str, Any] | None = None
    not_applicable: bool = False
    self_points: Decimal | None = None
    note: str = ""
    round1_points: Decimal | None = None
    round1_decision: Decision | None = None
    explanation_requested: bool = False
    explanation: str | None = None
    round2_points: Decimal | None = None
    round2_decision: Decision | None = None
    survey_points: Decimal | None = None
    survey_import_id: UUID | None = None
    corrected_points: Decimal | None = None
    evidence: list[str] = field(default_factory=list)

    def with_(self, **changes: Any) -> ItemState:
        """A copy with `changes`. Every fold of an item event calls this (a million times in a
        national rebuild), so it copies the instance dict instead of `dataclasses.replace`,
        which re-inspects the fields and re-runs `__init__` (five times slower); unknown
        names are still refused."""
        unknown = changes.keys() - ITEM_FIELDS
        if unknown:
            raise TypeError(f"ItemState has no field {sorted(unknown)[0]!r}")
        copied = object.__new__(ItemState)
        state = copied.__dict__
        state.update(self.__dict__)
        state.update(changes)
        return copied

    @property
    def final(self) -> tuple[Decimal | None, PointsSource]:
        """The points that count, and which act set them (latest authority wins)."""
        if self.corrected_points is not None:
            return self.corrected_points, PointsSource.CORRECTION
        if self.round2_points is not None:
            return self.round2_points, PointsSource.APPRAISAL_2
        if self.round1_points is not None:
            return self.round1_points, PointsSource.APPRAISAL_1
        if self.survey_points is not None:
            return self.survey_points, PointsSource.SURVEY
        if self.self_points is not None:
            return self.self_points, PointsSource.SELF
        return None, PointsSource.NONE

    @property
    def appraised_below_self(self) -> bool:
        return (self.round1_points is not None and self.self_points is not None
                and self.round1_points < self.self_points)


ITEM_FIELDS = frozenset(f.name for f in fields(ItemState))
