"""Property-based API tests generated from our own OpenAPI document: no 5xx, and every response
(errors included) conforms to the declared status codes, media types, headers and schemas;
requests outside the schema (unknown query parameters included) are refused.

Excluded check: `positive_data_acceptance`. A JSON schema cannot say that a framework's
children must sum to their parent or that deadlines must be in order, so such schema-valid
requests are refused by the domain with 422 (RFC 9110: syntactically valid, semantically not).
"""

import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.demo import load_demo
from domain.store.config import settings_from_url
from projections.rebuild import rebuild
from projections.runner import ViewRunner
from projections.store import ViewStore

TOKENS: dict[str, str] = {}


@pytest.fixture
def api_schema(store_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PARINDEX_BLOB_DIR", str(tmp_path / "blobs"))
    app = ParIndex(settings_from_url(store_url))
    load_demo(app)
    TOKENS["secretariat"], _ = app.issue_token(Actor("cli:test", Role.SYSTEM), "snv.fuzz",
                                               Role.SECRETARIAT)
    views = ViewStore(app.settings)
    rebuild(app, views)  # after the token, so the views hold every event
    runner = ViewRunner(app, views, idle_seconds=0.02)  # follows the writes the fuzzer makes
    thread, stop = runner.start_thread()
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(app, views, runner))
    stop.set()
    thread.join(timeout=10)
    views.close()
    app.close()


# The SSE stream holds its connection open for `seconds`; test_feed.py covers it.
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/api/v1/feed/stream")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_openapi_document(case):
    # A fresh key per request: reusing one with another body is a 422 by design.
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKENS['secretariat']}",
                                    "Idempotency-Key": uuid.uuid4().hex},
                           excluded_checks=[positive_data_acceptance])
