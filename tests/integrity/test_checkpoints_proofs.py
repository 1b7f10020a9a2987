"""Signed checkpoints every N events or T seconds; inclusion and consistency proofs checked
offline; forged proofs, stale checkpoints and checkpoints of another log are rejected."""

from __future__ import annotations

import copy
import json
import logging
import time
from datetime import timedelta

import pytest

from domain.application import ParIndex
from domain.store.checkpoints import Checkpoint, CheckpointError, generate_key_file
from domain.store.config import settings_from_url
from domain.store.integrity import (
    Checkpointer,
    CheckpointRefused,
    ProofRejected,
    ProofService,
    check_checkpoint,
    check_consistency,
    check_inclusion,
    verify,
)
from tests.integrity.helpers import RawStore, checkpointer, fill, signing_key


def test_a_checkpoint_every_n_events(app, tmp_path):
    signer = checkpointer(app, tmp_path, every_events=3, every_seconds=3600)
    assert signer.run_once() is None  # an empty log
    fill(app, 2)
    first = signer.run_once()  # the first one is always due
    assert first is not None and first.tree_size == 2
    fill(app, 2)
    assert signer.run_once() is None  # 2 new events < 3
    fill(app, 1)
    second = signer.run_once()
    assert second is not None and second.tree_size == 5
    stored = [Checkpoint.from_json(text) for text in app.recorder.checkpoint_documents()]
    assert [cp.tree_size for cp in stored] == [5, 2]
    second.check_signature([signing_key(tmp_path).public_key()])


def test_a_checkpoint_every_t_seconds(app, tmp_path, clock):
    signer = checkpointer(app, tmp_path, every_events=1000, every_seconds=60, clock=clock)
    fill(app, 1)
    assert signer.run_once().tree_size == 1
    fill(app, 1)
    clock.advance(seconds=59)
    assert signer.run_once() is None
    clock.advance(seconds=2)
    signed = signer.run_once()
    assert signed.tree_size == 2 and signed.timestamp.startswith("2025-11-01T08:01:01")
    clock.advance(seconds=600)
    assert signer.run_once() is None  # nothing new to sign


def test_the_checkpointer_thread_signs_and_stops(app, tmp_path):
    fill(app, 3)
    signer = checkpointer(app, tmp_path, poll_seconds=0.05)
    thread, stop = signer.start_thread()
    try:
        deadline = time.monotonic() + 5
        while signer.status()["last_size"] != 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert signer.status()["last_size"] == 3
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_the_checkpointer_refuses_to_sign_a_rewritten_log(app, tmp_path, caplog):
    positions = fill(app, 6)
    checkpointer(app, tmp_path).run_once(force=True)
    raw = RawStore(app)
    raw.run(("DELETE FROM {events} WHERE {pos} > ?", (positions[2],)),
            ("DELETE FROM {integrity} WHERE position > ?", (positions[2],)))
    raw.reset_sequence(positions[2])
    fill(app, 5, prefix="rewritten")
    fresh = checkpointer(app, tmp_path)  # e.g. after a restart
    with pytest.raises(CheckpointRefused, match="size 6"):
        fresh.run_once(force=True)
    with caplog.at_level(logging.ERROR, logger="parindex.integrity"):
        fresh._round()
    assert "refuses to sign" in caplog.text
    assert "size 6" in fresh.status()["error"]


def test_inclusion_proofs_of_every_event_check_offline(app, tmp_path):
    positions = fill(app, 7)
    signed = checkpointer(app, tmp_path).run_once(force=True)
    proofs = ProofService(app.recorder)
    trusted = [signing_key(tmp_path).public_key()]
    for position in positions:
        document = json.loads(json.dumps(proofs.inclusion(position)))  # as sent over the wire
        assert document["tree_size"] == 7
        assert Checkpoint.from_dict(document["checkpoint"]) == signed
        assert check_inclusion(document, signed, trusted_keys=trusted) == position


def test_forged_inclusion_proofs_are_rejected(app, tmp_path):
    positions = fill(app, 6)
    signed = checkpointer(app, tmp_path).run_once(force=True)
    genuine = ProofService(app.recorder).inclusion(positions[2])
    check_inclusion(genuine, signed)

    def forged(change) -> dict:
        document = copy.deepcopy(genuine)
        change(document)
        return document

    forgeries = {
        "path": lambda d: d["path"].__setitem__(0, "00" * 32),
        "state": lambda d: d["entry"].__setitem__("state_base64", "e30="),
        "topic": lambda d: d["entry"].__setitem__("topic", "x:Y"),
        "index": lambda d: d.__setitem__("leaf_index", d["leaf_index"] + 1),
        "position": lambda d: (d.__setitem__("position", positions[3]),
                               d["entry"].__setitem__("position", positions[3])),
        "leaf": lambda d: d.__setitem__("leaf_hash", "11" * 32),
        "short path": lambda d: d["path"].pop(),
    }
    for name, change in forgeries.items():
        with pytest.raises(ProofRejected):
            check_inclusion(forged(change), signed)
            pytest.fail(f"forged {name} accepted")


def test_consistency_proofs_between_checkpoints(app, tmp_path):
    signer = checkpointer(app, tmp_path)
    fill(app, 3)
    old = signer.run_once(force=True)
    fill(app, 5, prefix="b")
    new = signer.run_once(force=True)
    document = json.loads(json.dumps(ProofService(app.recorder).consistency(3)))
    assert (document["first_size"], document["second_size"]) == (3, 8)
    check_consistency(document, old, new)

    bad = copy.deepcopy(document)
    bad["proof"][0] = "ab" * 32
    with pytest.raises(ProofRejected, match="forged"):
        check_consistency(bad, old, new)
    with pytest.raises(ProofRejected):  # the order matters
        check_consistency(document, new, old)


def test_a_stale_checkpoint_is_rejected(app, tmp_path, clock):
    signer = checkpointer(app, tmp_path, clock=clock)
    fill(app, 2)
    old = signer.run_once(force=True)
    fill(app, 2, prefix="b")
    clock.advance(hours=2)
    new = signer.run_once(force=True)
    now = clock.now
    check_checkpoint(new, max_age=timedelta(hours=1), now=now)
    with pytest.raises(CheckpointError, match="stale"):  # too old
        check_checkpoint(old, max_age=timedelta(hours=1), now=now)
    with pytest.raises(CheckpointError, match="stale"):  # older than the one already held
        check_checkpoint(old, previous=new, now=now)
    # a proof made against a newer tree does not verify against a stale checkpoint
    with pytest.raises(ProofRejected, match="tree of 4 entries"):
        check_inclusion(ProofService(app.recorder).inclusion(1), old, now=now)
    # and the verifier flags a store whose newest checkpoint lags too long
    fill(app, 1, prefix="c")
    clock.advance(hours=2)
    report = verify(app.recorder, max_age=timedelta(hours=1), now=clock.now)
    assert not report.ok and "stale" in report.first_problem.message


def test_a_checkpoint_of_another_log_or_key_is_rejected(app, tmp_path):
    fill(app, 4)
    mine = checkpointer(app, tmp_path).run_once(force=True)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = ParIndex(settings_from_url(f"sqlite:///{other_dir}/events.sqlite3"))
    try:
        fill(other, 4, prefix="elsewhere")
        theirs = checkpointer(other, tmp_path).run_once(force=True)  # same key, other log
    finally:
        other.close()
    report = verify(app.recorder, checkpoints=[("theirs.json", theirs)])
    assert not report.ok and "not of this log" in report.first_problem.message
    with pytest.raises(ProofRejected, match="another log"):
        check_inclusion(ProofService(app.recorder).inclusion(1), theirs)
    with pytest.raises(CheckpointError, match="another log"):
        check_checkpoint(theirs, previous=mine)

    # signed by a key the inspector does not trust
    generate_key_file(tmp_path / "stranger.key")
    from domain.store.checkpoints import load_signing_key

    stranger = Checkpointer(app.recorder, load_signing_key(tmp_path / "stranger.key"))
    fill(app, 1, prefix="x")
    foreign = stranger.run_once(force=True)
    with pytest.raises(CheckpointError, match="not a trusted key"):
        check_checkpoint(foreign, trusted_keys=[signing_key(tmp_path).public_key()])
    # an altered checkpoint no longer matches its signature
    altered = Checkpoint.from_dict({**mine.to_dict(), "tree_size": 3})
    with pytest.raises(CheckpointError, match="bad signature"):
        altered.check_signature()
    report = verify(app.recorder, checkpoints=[("altered.json", altered)])
    assert "bad signature" in report.first_problem.message
