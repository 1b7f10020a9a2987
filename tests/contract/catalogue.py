"""The event catalogue: every stored event type with its topic, version and fields.

Event classes are a permanent contract: their topic (module:QualName) is stored with every
event. `test_event_catalogue` compares the live classes with `event_catalogue.json`; after a
deliberate, compatible change (a new event type, or a new `class_version` with its upcaster),
regenerate it with:

    .venv/bin/python -m tests.contract.catalogue --write
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from pathlib import Path

from eventsourcing.utils import get_topic

from domain.access.model import AccessToken
from domain.base import ParAggregate
from domain.cycle.model import AssessmentCycle
from domain.framework.model import Framework
from domain.scorecard.model import Scorecard
from domain.survey.mapping import SurveyMapping
from domain.survey.model import SurveyImport, SurveyImportSeries

AGGREGATES = (AccessToken, Framework, AssessmentCycle, Scorecard, SurveyMapping, SurveyImport,
              SurveyImportSeries)
# Base classes the library derives per aggregate; parindex never stores them.
LIBRARY_BASES = frozenset({"Event", "Created", "Snapshot"})
CATALOGUE_PATH = Path(__file__).with_name("event_catalogue.json")


def event_classes() -> list[type]:
    found = []
    for aggregate in AGGREGATES:
        for value in vars(aggregate).values():
            if (isinstance(value, type) and issubclass(value, ParAggregate.Event)
                    and value.__qualname__.startswith(aggregate.__name__ + ".")
                    and value.__name__ not in LIBRARY_BASES):
                found.append(value)
    return sorted(found, key=get_topic)


def field_types(cls: type) -> dict[str, str]:
    hints = typing.get_type_hints(cls)
    return {f.name: _type_name(hints[f.name]) for f in dataclasses.fields(cls)}


def _type_name(tp: object) -> str:
    return str(tp).replace("typing.", "") if not isinstance(tp, type) else tp.__name__


def catalogue() -> dict[str, dict[str, object]]:
    return {get_topic(cls): {"class_version": getattr(cls, "class_version", 1),
                             "fields": field_types(cls)}
            for cls in event_classes()}


if __name__ == "__main__":
    if "--write" in sys.argv:
        CATALOGUE_PATH.write_text(json.dumps(catalogue(), indent=2, ensure_ascii=False) + "\n",
                                  encoding="utf-8")
        print(f"wrote {CATALOGUE_PATH}")
    else:
        print(json.dumps(catalogue(), indent=2, ensure_ascii=False))
