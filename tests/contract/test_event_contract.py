import json

import pytest

from domain.application import ParIndex
from domain.store.config import settings_from_url
from tests.contract.catalogue import CATALOGUE_PATH, catalogue, event_classes
from tests.contract.samples import sample_event


def test_event_classes_match_the_published_catalogue():
    published = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    live = catalogue()
    removed = sorted(set(published) - set(live))
    assert not removed, (f"event types vanished or were renamed: {removed}. Stored events name "
                         "them; keep the class or register_topic(old, new).")
    for topic, spec in published.items():
        if live[topic] != spec:
            assert live[topic]["class_version"] > spec["class_version"], (
                f"{topic} changed its fields without a new class_version and upcaster")
    added = sorted(set(live) - set(published))
    assert not added, (f"new event types {added}: regenerate the catalogue "
                       "(python -m tests.contract.catalogue --write) and review it")


@pytest.mark.parametrize("event_class", event_classes(), ids=lambda cls: cls.__qualname__)
def test_every_event_type_survives_the_store_mapper(event_class, tmp_path):
    app = ParIndex(settings_from_url(f"sqlite:///{tmp_path}/m.sqlite3"))
    try:
        event = sample_event(event_class)
        stored = app.mapper.to_stored_event(event)
        assert app.mapper.to_domain_event(stored) == event
    finally:
        app.close()


def test_stored_state_is_plain_json_with_vietnamese_unescaped(tmp_path):
    app = ParIndex(settings_from_url(f"sqlite:///{tmp_path}/m.sqlite3"))
    try:
        stored = app.mapper.to_stored_event(sample_event(event_classes()[0]))
        text = stored.state.decode("utf-8")
        assert json.loads(text)
        assert "Sở Tài chính" in text
    finally:
        app.close()
