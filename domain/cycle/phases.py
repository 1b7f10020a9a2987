"""The phases of a cycle, in order, and the classification scheme of a group."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any

from domain.errors import InvalidInput
from domain.framework.structure import nfc
from domain.points import parse_points


class Phase(Enum):
    SETUP = "setup"
    SELF_ASSESSMENT = "self_assessment"
    APPRAISAL_1 = "appraisal_round_1"
    EXPLANATION = "explanation"
    APPRAISAL_2 = "appraisal_round_2"
    COUNCIL = "council_approval"
    PUBLISHED = "published"

    @property
    def next(self) -> Phase | None:
        order = list(Phase)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


# Phases that close at a deadline (the schedule of a cycle); SETUP and PUBLISHED have none.
SCHEDULED_PHASES = (Phase.SELF_ASSESSMENT, Phase.APPRAISAL_1, Phase.EXPLANATION,
                    Phase.APPRAISAL_2, Phase.COUNCIL)


class RankingRule(Enum):
    COMPETITION = "competition"  # 1, 2, 2, 4 (decision 9(e), the default)
    DENSE = "dense"  # 1, 2, 2, 3


DEFAULT_CLASSIFICATION: list[dict[str, str]] = [
    {"label": "Xuất sắc", "min_total": "90"},
    {"label": "Tốt", "min_total": "80"},
    {"label": "Khá", "min_total": "70"},
    {"label": "Trung bình", "min_total": "50"},
    {"label": "Yếu", "min_total": "0"},
]


def parse_classification(raw: object, group: str) -> list[dict[str, str]]:
    """Bands from the highest threshold down; the last band starts at 0 so every total has a
    class."""
    if raw is None:
        return [dict(band) for band in DEFAULT_CLASSIFICATION]
    field = f"groups[{group}].classification"
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("classification must be a non-empty list of bands", field=field)
    bands = []
    for band in raw:
        if not isinstance(band, dict):
            raise InvalidInput("each classification band is an object", field=field)
        bands.append({"label": nfc(band.get("label"), field=f"{field}.label"),
                      "min_total": str(parse_points(band.get("min_total"),
                                                    field=f"{field}.min_total"))})
    thresholds = [Decimal(band["min_total"]) for band in bands]
    if thresholds != sorted(thresholds, reverse=True) or len(set(thresholds)) != len(thresholds):
        raise InvalidInput("classification bands go from the highest threshold down, without "
                           "repeats", field=field)
    if thresholds[-1] != 0:
        raise InvalidInput("the last classification band must start at 0", field=field)
    if len({band["label"] for band in bands}) != len(bands):
        raise InvalidInput("classification labels must be unique", field=field)
    return bands


def classify(bands: list[dict[str, Any]], total: Decimal) -> str:
    for band in bands:
        if total >= Decimal(band["min_total"]):
            return str(band["label"])
    return str(bands[-1]["label"])
