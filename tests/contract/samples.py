"""Sample values for every field type an event declares, built from its type hints."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

SAMPLES: dict[object, Any] = {
    str: "Sở Tài chính — giải trình",
    int: 7,
    bool: True,
    Decimal: Decimal("10.59"),
    UUID: UUID("12345678-1234-5678-1234-567812345678"),
    datetime: datetime(2025, 12, 15, 10, 0, tzinfo=UTC),
    date: date(2026, 1, 14),
}


def sample(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return sample(next(arg for arg in typing.get_args(tp) if arg is not type(None)))
    if origin is list:
        return [sample(typing.get_args(tp)[0])]
    if origin is dict:
        return {"n": 120, "share": Decimal("0.83"), "when": SAMPLES[datetime]}
    if isinstance(tp, type) and issubclass(tp, Enum):
        return list(tp)[-1]
    if tp in SAMPLES:
        return SAMPLES[tp]
    raise TypeError(f"no sample for {tp!r}: add one (and a transcoding if it is new)")


def sample_event(cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        if field.name == "originator_id":
            values[field.name] = SAMPLES[UUID]
        elif field.name == "originator_topic":
            values[field.name] = "domain.scorecard.model:Scorecard"
        else:
            values[field.name] = sample(hints[field.name])
    return cls(**values)
