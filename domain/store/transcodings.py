"""Transcodings for every non-JSON type parindex events and snapshots carry.

The library registers only UUID, Decimal and datetime. Dates, our enums and the scorecard's item
state are added here; `tests/contract` round-trips every event class through the store's mapper
so a new field type without a transcoding fails in the suite, not at a unit's first save.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from enum import Enum
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.actors import Role
from domain.cycle.phases import Phase, RankingRule
from domain.scorecard.state import Decision, EvidencePurpose, ItemState, Status


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EnumAsValue(Transcoding):
    """An enum member stored as its value under a stable name (never the class path)."""

    def __init__(self, enum_type: type[Enum], name: str):
        self.type = enum_type
        self.name = name

    def encode(self, obj: Enum) -> Any:
        return obj.value

    def decode(self, data: Any) -> Enum:
        return self.type(data)


class DataclassAsDict(Transcoding):
    """A frozen state dataclass (snapshots only) stored as a dict of its fields."""

    def __init__(self, cls: type, name: str):
        self.type = cls
        self.name = name

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


PARINDEX_TRANSCODINGS: tuple[Transcoding, ...] = (
    DateAsISO(),
    EnumAsValue(Role, "parindex_role"),
    EnumAsValue(Phase, "parindex_phase"),
    EnumAsValue(RankingRule, "parindex_ranking_rule"),
    EnumAsValue(Decision, "parindex_decision"),
    EnumAsValue(EvidencePurpose, "parindex_evidence_purpose"),
    EnumAsValue(Status, "parindex_scorecard_status"),
    DataclassAsDict(ItemState, "parindex_item_state"),
)


def register_parindex_transcodings(transcoder: JSONTranscoder) -> None:
    for transcoding in PARINDEX_TRANSCODINGS:
        transcoder.register(transcoding)
