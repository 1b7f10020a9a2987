"""Builders for survey tests: mappings for the small framework (8.1 KSCB, 8.2 SIPAS, 3 points
each), response and aggregate files, and `refused` — the one way these tests check a refusal."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from domain.application import ParIndex
from domain.store.blobs import StoredBlob
from domain.survey.errors import SurveyRejected
from domain.survey.service import SurveyService
from tests.builders import SECRETARIAT, Scenario

SIPAS = "SO-SIPAS"
KSCB = "SO-KSCB"


def sipas_mapping(**overrides: Any) -> dict[str, Any]:
    """8.2 from questions Q1, Q2 (share of 4–5) and from the aggregate indicator SIPAS."""
    document = {"code": SIPAS, "title": "SIPAS 2025, khối sở", "framework_code": "SO-2025",
                "instrument": "SIPAS", "min_valid_n": 5,
                "items": [{"item_code": "8.2", "method": "satisfied_share",
                           "questions": ["Q1", "Q2"], "indicators": ["SIPAS"]}]}
    document.update(overrides)
    return document


def kscb_mapping(**overrides: Any) -> dict[str, Any]:
    """8.1 from questions K1, K2, K3 (rescaled mean) and from the aggregate indicator KSCB."""
    document = {"code": KSCB, "framework_code": "SO-2025", "instrument": "KSCB",
                "min_valid_n": 5,
                "items": [{"item_code": "8.1", "method": "rescaled_mean",
                           "questions": ["K1", "K2", "K3"], "indicators": ["KSCB"]}]}
    document.update(overrides)
    return document


def table(header: list[str], rows: Iterable[Iterable[Any]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(list(row))
    return out.getvalue().encode("utf-8")


def respondents(unit: str, answers: list[tuple[Any, ...]], start: int = 1,
                prefix: str | None = None) -> list[list[Any]]:
    """Rows `respondent_id, unit_code, answers…` for one unit."""
    prefix = prefix or unit
    return [[f"{prefix}-{start + i:04d}", unit, *row] for i, row in enumerate(answers)]


HEADER = ["respondent_id", "unit_code", "Q1", "Q2"]


def standard_file() -> bytes:
    """STC: 8 respondents, SNV: 6; hand-computed below."""
    stc = [(5, 4), (4, 4), (3, 5), (2, "dk"), (5, 1), (4, ""), (1, 2), (5, 5)]
    snv = [(4, 4), (4, 5), (5, 3), (3, 3), (2, 4), (5, 5)]
    return table(HEADER, respondents("STC", stc) + respondents("SNV", snv))


# Hand computation for standard_file():
# STC Q1: 8 valid, 4–5: 5,4,5,4,5 = 5 → 5/8; Q2: 6 valid (dk, blank missing), 4–5: 4,4,5,5 = 4
#     → 4/6; index = (5/8 + 2/3) / 2 = 31/48 = 0.645833 → 0.6458; points 3 × 0.6458 = 1.9374
#     → 1.94
# SNV Q1: 6 valid, 4–5: 4,4,5,5 = 4 → 4/6; Q2: 6 valid, 4–5: 4,5,4,5 = 4 → 4/6;
#     index 0.6667; points 2.0001 → 2.00
STANDARD = {"STC": ("0.6458", "1.94", 8), "SNV": ("0.6667", "2.00", 6)}


def store(survey: SurveyService, content: bytes) -> StoredBlob:
    return survey.store([content])


def import_bytes(survey: SurveyService, scenario: Scenario, content: bytes,
                 mapping: str = SIPAS, name: str = "sipas.csv", **options: Any) -> dict[str, Any]:
    return survey.import_file(SECRETARIAT, scenario.cycle_id, mapping, store(survey, content),
                              name, **options)


def head(app: ParIndex) -> int:
    return app.recorder.max_notification_id() or 0


def refused(app: ParIndex, call: Callable[[], Any]) -> SurveyRejected:
    """Run `call`, expect SurveyRejected, and check that nothing was written."""
    before = head(app)
    with pytest.raises(SurveyRejected) as caught:
        call()
    assert head(app) == before, "a refused import wrote events"
    return caught.value


def faults(error: SurveyRejected) -> list[tuple[int | None, str | None, str]]:
    """(row, column, code) of every listed fault."""
    return [(e["row"], e["column"], e["code"]) for e in error.errors]
