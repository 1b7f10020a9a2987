"""Tampering with the stored log or the evidence, directly in SQL or on disk, is detected and
the verifier names the first bad position or file (SQLite and PostgreSQL)."""

from __future__ import annotations

import os

import pytest

from domain.application import ParIndex
from domain.store.blobs import BlobStore
from domain.store.config import settings_from_url
from domain.store.integrity import evidence_refs_by_mapper, verify
from tests.builders import cycle_with_units, officer
from tests.integrity.helpers import RawStore, checkpointer, fill, first


def test_an_untouched_log_verifies(app):
    positions = fill(app, 6)
    report = verify(app.recorder)
    assert report.ok, report.problems
    assert (report.tree_size, report.last_position, report.events) == (6, positions[-1], 6)
    assert report.log_id == bytes(app.recorder.select_integrity(0, 1)[0].leaf_hash).hex()


def test_changed_bytes_of_a_stored_event_are_detected_at_their_position(app):
    positions = fill(app, 8)
    RawStore(app).run(("UPDATE {events} SET state = ? WHERE {pos} = ?",
                       (b'{"holder":"someone else"}', positions[4])))
    problem = first(verify(app.recorder))
    assert problem.position == positions[4]
    assert "differs from the one hashed" in problem.message


def test_a_changed_topic_or_version_is_detected(app):
    positions = fill(app, 4)
    RawStore(app).run(("UPDATE {events} SET originator_version = 7 WHERE {pos} = ?",
                       (positions[1],)))
    assert first(verify(app.recorder)).position == positions[1]


def test_a_deleted_event_is_detected_at_its_position(app):
    positions = fill(app, 8)
    RawStore(app).run(("DELETE FROM {events} WHERE {pos} = ?", (positions[3],)))
    problem = first(verify(app.recorder))
    assert problem.position == positions[3]
    assert "event missing" in problem.message


def test_a_deleted_event_with_its_integrity_row_is_detected_at_the_next_position(app):
    positions = fill(app, 8)
    RawStore(app).run(("DELETE FROM {events} WHERE {pos} = ?", (positions[3],)),
                      ("DELETE FROM {integrity} WHERE position = ?", (positions[3],)))
    report = verify(app.recorder)
    problem = first(report)
    assert problem.position == positions[4]
    assert f"between positions {positions[2]} and {positions[4]}" in problem.message


def test_two_swapped_rows_are_detected_at_the_first(app):
    positions = fill(app, 8)
    a, b = positions[2], positions[5]
    RawStore(app).swap_events(a, b)
    report = verify(app.recorder)
    assert first(report).position == a
    assert [p.position for p in report.problems] == [a, b]


def test_the_verdict_is_the_same_whatever_the_windows_the_log_is_read_in(app, tmp_path):
    # verify checks a window of rows at once and goes row by row only through a window with a
    # problem: good windows before, between and after bad ones, and checkpoint sizes inside a
    # window, must change nothing
    signer, raw = checkpointer(app, tmp_path), RawStore(app)
    positions = fill(app, 7)
    signer.run_once(force=True)  # size 7, holds
    raw.reset_sequence(positions[-1] + 3)  # PostgreSQL: a gap, as a rolled-back save leaves
    positions += fill(app, 3, prefix="b")
    held = signer.run_once(force=True)  # size 10, then the log is rewritten after leaf 8
    raw.run(("DELETE FROM {events} WHERE {pos} > ?", (positions[7],)),
            ("DELETE FROM {integrity} WHERE position > ?", (positions[7],)),
            "DELETE FROM {checkpoints} WHERE tree_size = 10")
    raw.reset_sequence(positions[7])
    positions = positions[:8] + fill(app, 5, prefix="rewritten")
    raw.run(("UPDATE {events} SET state = ? WHERE {pos} = ?",
             (b'{"holder":"someone else"}', positions[4])),
            ("DELETE FROM {events} WHERE {pos} = ?", (positions[11],)))
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = ParIndex(settings_from_url(f"sqlite:///{other_dir}/events.sqlite3"))
    try:
        fill(other, 8, prefix="elsewhere")
        theirs = checkpointer(other, tmp_path).run_once(force=True)  # size 8, another log
    finally:
        other.close()
    recorder = app.recorder

    def verdict(batch: int):
        windows = recorder.iter_windows
        recorder.iter_windows = lambda stop=None: windows(stop=stop, batch=batch)
        try:
            report = verify(recorder, checkpoints=[("held.json", held), ("theirs.json", theirs)])
        finally:
            del recorder.iter_windows
        return ([(p.message, p.position, p.checkpoint) for p in report.problems],
                report.tree_size, report.events, report.root_hash, report.chain_hash)

    one_window = verdict(10_000)
    assert [(position, checkpoint) for _, position, checkpoint in one_window[0]] == [
        (positions[4], None), (None, 8), (positions[7], 10), (positions[11], None),
        (None, 10), (None, 8)]
    for batch in (1, 2, 3, 5, 8):
        assert verdict(batch) == one_window, batch


def test_a_changed_integrity_row_breaks_the_chain(app):
    positions = fill(app, 6)
    RawStore(app).run(("UPDATE {integrity} SET leaf_hash = ? WHERE position = ?",
                       (bytes(32), positions[2])))
    report = verify(app.recorder)
    assert first(report).position == positions[2]
    assert any("hash chain broken" in p.message for p in report.problems)


def test_an_event_inserted_around_the_recorder_is_detected(app):
    positions = fill(app, 3)
    raw = RawStore(app)
    (rows,) = raw.run(("SELECT originator_id, topic, state FROM {events} WHERE {pos} = ?",
                       (positions[0],)))
    oid, topic, state = rows[0]
    raw.run(("INSERT INTO {events} (originator_id, originator_version, topic, state, {pos}) "
             "VALUES (?, 2, ?, ?, ?)", (oid, topic, state, positions[-1] + 1)))
    problem = first(verify(app.recorder))
    assert problem.position == positions[-1] + 1
    assert "no integrity row" in problem.message


def test_a_log_truncated_and_regrown_fails_the_earlier_checkpoint(app, tmp_path):
    positions = fill(app, 10)
    signed = checkpointer(app, tmp_path).run_once(force=True)
    assert signed is not None and signed.tree_size == 10
    fill(app, 2, prefix="later")
    raw = RawStore(app)
    keep = positions[5]
    # cut the tail (events, hashes and the stored checkpoint), then let the app write again
    raw.run(("DELETE FROM {events} WHERE {pos} > ?", (keep,)),
            ("DELETE FROM {integrity} WHERE position > ?", (keep,)),
            "DELETE FROM {checkpoints}")
    raw.reset_sequence(keep)
    regrown = fill(app, 7, prefix="rewritten")
    assert regrown[0] == keep + 1  # the positions were reused
    assert verify(app.recorder).ok  # internally consistent: only a checkpoint can tell

    report = verify(app.recorder, checkpoints=[("checkpoint inspector.json", signed)])
    problem = first(report)
    assert problem.checkpoint == 10
    assert problem.position == positions[0]  # no earlier checkpoint narrows it down
    assert "not an append-only extension" in problem.message
    assert f"positions {positions[0]}..{regrown[3]}" in problem.message


def test_an_earlier_stored_checkpoint_narrows_down_where_the_log_was_rewritten(app, tmp_path):
    positions = fill(app, 6)
    signer = checkpointer(app, tmp_path)
    signer.run_once(force=True)  # size 6
    fill(app, 4, prefix="b")
    held = signer.run_once(force=True)  # size 10: the inspector keeps this one
    raw = RawStore(app)
    raw.run(("DELETE FROM {events} WHERE {pos} > ?", (positions[-1],)),
            ("DELETE FROM {integrity} WHERE position > ?", (positions[-1],)),
            "DELETE FROM {checkpoints} WHERE tree_size = 10")
    raw.reset_sequence(positions[-1])
    fill(app, 5, prefix="c")
    problem = first(verify(app.recorder, checkpoints=[("held.json", held)]))
    assert problem.position == positions[-1] + 1
    assert "leaves 7..10" in problem.message


def test_a_truncated_log_names_the_first_missing_position(app, tmp_path):
    positions = fill(app, 8)
    held = checkpointer(app, tmp_path).run_once(force=True)
    RawStore(app).run(("DELETE FROM {events} WHERE {pos} > ?", (positions[4],)),
                      ("DELETE FROM {integrity} WHERE position > ?", (positions[4],)))
    report = verify(app.recorder, checkpoints=[("held.json", held)])
    problem = next(p for p in report.problems if "truncated" in p.message)
    assert problem.position == positions[4] + 1
    assert not report.ok


def test_an_altered_or_missing_evidence_file_is_named(app, tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    scenario = cycle_with_units(app, units=("STC",))
    card = scenario.scorecards["STC"]
    kept = blobs.put([b"%PDF bao cao tu danh gia"])
    altered = blobs.put([b"%PDF ke hoach CCHC 2025"])
    lost = blobs.put([b"%PDF bien ban kiem tra"])
    for code, blob in (("1.1.1", kept), ("1.2", altered), ("1.3", lost)):
        app.attach_evidence(officer("STC"), card, code, blob, f"{code}.pdf", "application/pdf")
    refs = evidence_refs_by_mapper(app.mapper)
    assert verify(app.recorder, blob_dir=blobs.root, evidence_refs=refs).ok

    path = blobs.path_of(altered.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"%PDF ke hoach CCHC 2025 (sua)")
    os.remove(blobs.path_of(lost.sha256))
    report = verify(app.recorder, blob_dir=blobs.root, evidence_refs=refs)
    assert first(report).file == str(path)
    assert "does not match its SHA-256" in report.first_problem.message
    assert [p.file for p in report.problems] == [str(path), str(blobs.path_of(lost.sha256))]
    assert "missing" in report.problems[1].message
    from domain.store.blobs import BlobCorrupted

    with pytest.raises(BlobCorrupted):  # and every read checks it too
        blobs.read(altered.sha256)
