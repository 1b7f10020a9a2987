"""Survey fixtures over the `app` of tests/conftest.py (SQLite file, then PostgreSQL)."""

from __future__ import annotations

import pytest

from domain.application import ParIndex
from domain.store.blobs import BlobStore
from domain.survey.service import SurveyService
from tests.builders import SECRETARIAT, Scenario, cycle_with_units
from tests.survey.helpers import kscb_mapping, sipas_mapping


@pytest.fixture
def blobs(tmp_path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


@pytest.fixture
def survey(app: ParIndex, blobs: BlobStore) -> SurveyService:
    return SurveyService(app, blobs, max_bytes=5 * 1024 * 1024)


@pytest.fixture
def scenario(app: ParIndex, survey: SurveyService) -> Scenario:
    """STC and SNV in self-assessment, with the SIPAS (8.2) and KSCB (8.1) mappings."""
    scenario = cycle_with_units(app)
    survey.define_mapping(SECRETARIAT, sipas_mapping())
    survey.define_mapping(SECRETARIAT, kscb_mapping())
    return scenario
