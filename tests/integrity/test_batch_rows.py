"""A save of several events writes one integrity row holding all their leaves (up to
merkle.MAX_LEAVES_PER_ROW), chained as one link; the verifier, the checkpointer and the proofs
read such rows leaf by leaf, and tampering inside a row is named at its position (SQLite and
PostgreSQL)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.application import ParIndex
from domain.store.config import settings_from_url
from domain.store.integrity import ProofService, check_consistency, check_inclusion, verify
from domain.store.merkle import (
    MAX_LEAVES_PER_ROW,
    ZERO_HASH,
    MerkleTree,
    chain_hash,
    event_entry,
    leaf_hash,
    row_leaves,
)
from domain.store.recorders import hash_new_events
from tests.integrity.helpers import RawStore, checkpointer, fill, fill_in_one_save, first


def leaves_of(app, positions: list[int]) -> list[bytes]:
    """The leaves of the stored events, computed with the reference encoding."""
    out = []
    for position in positions:
        entry = app.recorder.entry(position)
        out.append(leaf_hash(event_entry(entry.position, entry.originator_id,
                                         entry.originator_version, entry.topic, entry.state)))
    return out


def test_a_save_of_several_events_writes_one_row_chained_as_one_link(app):
    single = fill(app, 2)
    batch = fill_in_one_save(app, 7)
    last = fill(app, 1, prefix="after")
    assert batch == list(range(batch[0], batch[0] + 7))
    rows = app.recorder.select_integrity(0, 100)
    assert [(r.position, r.leaf_index) for r in rows] == [
        (single[0], 0), (single[1], 1), (batch[-1], 8), (last[0], 9)]
    leaves = leaves_of(app, single + batch + last)
    assert bytes(rows[2].leaf_hash) == b"".join(leaves[2:9])
    chain = ZERO_HASH
    for row, row_hashes in zip(rows, [leaves[0], leaves[1], b"".join(leaves[2:9]), leaves[9]],
                               strict=True):
        chain = chain_hash(chain, row_hashes)
        assert bytes(row.chain_hash) == chain
    report = verify(app.recorder)
    assert report.ok, report.problems
    tree = MerkleTree()
    for leaf in leaves:
        tree.append(leaf)
    assert (report.tree_size, report.events, report.last_position) == (10, 10, last[0])
    assert report.root_hash == tree.root().hex() and report.chain_hash == chain.hex()


def test_a_save_of_more_events_than_a_row_holds_writes_several_rows(app):
    count = 2 * MAX_LEAVES_PER_ROW + 5
    positions = fill_in_one_save(app, count)
    rows = app.recorder.select_integrity(0, 1000)
    assert [len(row_leaves(r.leaf_hash)) for r in rows] == [MAX_LEAVES_PER_ROW,
                                                           MAX_LEAVES_PER_ROW, 5]
    assert [r.position for r in rows] == [positions[MAX_LEAVES_PER_ROW - 1],
                                          positions[2 * MAX_LEAVES_PER_ROW - 1], positions[-1]]
    assert [r.leaf_index for r in rows] == [MAX_LEAVES_PER_ROW - 1, 2 * MAX_LEAVES_PER_ROW - 1,
                                            count - 1]
    assert b"".join(bytes(r.leaf_hash) for r in rows) == b"".join(leaves_of(app, positions))
    assert verify(app.recorder).ok


def test_rows_split_where_positions_are_not_consecutive():
    # SQLite and PostgreSQL hand a save consecutive positions; a sequence shared with another
    # writer could leave gaps, and a row only ever holds consecutive positions
    events = [(p, "token-a", 1, "topic", b"{}") for p in (3, 4, 5, 9, 10, 12)]
    rows = hash_new_events(None, events)
    assert [(position, index, len(leaves) // 32) for position, index, leaves, _ in rows] == [
        (5, 2, 3), (10, 4, 2), (12, 5, 1)]
    chain = ZERO_HASH
    for _, _, leaves, stored_chain in rows:
        chain = chain_hash(chain, leaves)
        assert stored_chain == chain


@pytest.mark.postgres
def test_postgres_positions_with_gaps_in_one_save_get_consecutive_rows(postgres_schema_url):
    app = ParIndex(settings_from_url(postgres_schema_url))
    try:
        raw = RawStore(app)
        fill(app, 1)
        sequence = f'"{raw.schema}"."{app.recorder.events_table_name}_notification_id_seq"'
        raw.run(f"ALTER SEQUENCE {sequence} INCREMENT BY 2", unguard=False)
        try:
            positions = fill_in_one_save(app, 4)
        finally:
            raw.run(f"ALTER SEQUENCE {sequence} INCREMENT BY 1", unguard=False)
        assert positions == [positions[0] + 2 * i for i in range(4)]
        rows = app.recorder.select_integrity(0, 1000)
        assert [(r.position, r.leaf_index) for r in rows[1:]] == [
            (p, i + 1) for i, p in enumerate(positions)]
        fill_in_one_save(app, 3, prefix="after")
        assert verify(app.recorder).ok
    finally:
        app.close()


def test_checkpoints_and_proofs_over_rows_of_several_leaves(app, tmp_path):
    signer = checkpointer(app, tmp_path)
    fill(app, 2)
    small = signer.run_once(force=True)
    batch = fill_in_one_save(app, 9)
    fill(app, 1, prefix="after")
    large = signer.run_once(force=True)
    assert (small.tree_size, large.tree_size) == (2, 12)
    proofs = ProofService(app.recorder)
    for position in (batch[0], batch[4], batch[-1]):
        check_inclusion(proofs.inclusion(position), large)
    check_consistency(proofs.consistency(2, 12), small, large)
    report = verify(app.recorder)
    assert report.ok and report.checkpoints_checked == 2, report.problems


def test_changed_bytes_of_an_event_inside_a_row_are_named_at_their_position(app):
    fill(app, 1)
    batch = fill_in_one_save(app, 6)
    RawStore(app).run(("UPDATE {events} SET state = ? WHERE {pos} = ?",
                       (b'{"holder":"someone else"}', batch[3])))
    report = verify(app.recorder)
    assert first(report).position == batch[3]
    assert "differs from the one hashed" in first(report).message
    assert [p.position for p in report.problems] == [batch[3]]


def test_an_event_deleted_from_inside_a_row_is_named_at_its_position(app):
    batch = fill_in_one_save(app, 6)
    fill(app, 2, prefix="after")
    RawStore(app).run(("DELETE FROM {events} WHERE {pos} = ?", (batch[2],)))
    problem = first(verify(app.recorder))
    assert problem.position == batch[2]
    assert "event missing" in problem.message


def test_two_events_swapped_inside_a_row_are_named_at_the_first(app):
    batch = fill_in_one_save(app, 6)
    a, b = batch[1], batch[4]
    RawStore(app).swap_events(a, b)
    report = verify(app.recorder)
    assert [p.position for p in report.problems] == [a, b]


def test_a_changed_leaf_inside_a_row_is_named_and_breaks_the_chain(app):
    batch = fill_in_one_save(app, 5)
    (rows,) = RawStore(app).run(("SELECT leaf_hash FROM {integrity} WHERE position = ?",
                                 (batch[-1],)), unguard=False)
    leaves = bytearray(rows[0][0])
    leaves[2 * 32] ^= 0xFF  # the third event's leaf
    RawStore(app).run(("UPDATE {integrity} SET leaf_hash = ? WHERE position = ?",
                       (bytes(leaves), batch[-1])))
    report = verify(app.recorder)
    assert first(report).position == batch[2]
    assert any("hash chain broken" in p.message and p.position == batch[-1]
               for p in report.problems)


def test_a_malformed_row_is_reported(app):
    fill(app, 2)
    batch = fill_in_one_save(app, 3)
    RawStore(app).run(("UPDATE {integrity} SET leaf_hash = ? WHERE position = ?",
                       (bytes(33), batch[-1])))
    report = verify(app.recorder)
    assert any("integrity row malformed" in p.message and p.position == batch[-1]
               for p in report.problems)
    assert first(report).position <= batch[-1]


def test_rows_across_window_edges_give_the_same_verdict_in_any_windows(app, tmp_path):
    # a row is keyed by its last position and its first events may lie in the window before:
    # the verifier regroups events to the rows' edges, whatever the window size
    signer, raw = checkpointer(app, tmp_path), RawStore(app)
    positions = fill(app, 3) + fill_in_one_save(app, 7)
    signer.run_once(force=True)  # size 10
    raw.reset_sequence(positions[-1] + 4)  # PostgreSQL: a gap, as a rolled-back save leaves
    positions += fill_in_one_save(app, 5, prefix="b") + fill(app, 2, prefix="c")
    recorder = app.recorder

    def verdict(batch: int):
        windows = recorder.iter_windows
        recorder.iter_windows = lambda stop=None: windows(stop=stop, batch=batch)
        try:
            report = verify(recorder)
        finally:
            del recorder.iter_windows
        return ([(p.message, p.position, p.checkpoint) for p in report.problems],
                report.tree_size, report.events, report.root_hash, report.chain_hash)

    clean = verdict(10_000)
    assert clean[0] == [] and clean[1] == 17
    for batch in (1, 2, 3, 4, 6, 9):
        assert verdict(batch) == clean, batch
    raw.run(("UPDATE {events} SET state = ? WHERE {pos} = ?",
             (b'{"holder":"someone else"}', positions[5])),
            ("DELETE FROM {events} WHERE {pos} = ?", (positions[12],)))
    tampered = verdict(10_000)
    assert [position for _, position, _ in tampered[0]] == [positions[5], positions[12]]
    for batch in (1, 2, 3, 4, 6, 9):
        assert verdict(batch) == tampered, batch


def test_two_writers_on_one_store_continue_each_others_rows(store_url):
    # each SQLite recorder remembers the head it wrote last and skips reading it while the next
    # position follows it; another writer's rows in between must make it read the head again
    first, second = ParIndex(settings_from_url(store_url)), ParIndex(settings_from_url(store_url))
    try:
        positions = []
        for round_ in range(3):
            positions += fill(first, 1, prefix=f"first-{round_}")
            positions += fill(second, 1, prefix=f"second-{round_}")
            positions += fill_in_one_save(first, 3, prefix=f"first-batch-{round_}")
            positions += fill(first, 1, prefix=f"first-again-{round_}")
            positions += fill_in_one_save(second, 2, prefix=f"second-batch-{round_}")
        rows = first.recorder.select_integrity(0, 1000)
        assert [r.leaf_index for r in rows] == [0, 1, 4, 5, 7, 8, 9, 12, 13, 15, 16, 17, 20,
                                                21, 23]
        assert [r.position for r in rows] == [positions[i] for i in
                                              (0, 1, 4, 5, 7, 8, 9, 12, 13, 15, 16, 17, 20,
                                               21, 23)]
        report = verify(second.recorder)
        assert report.ok and report.events == 24, report.problems
    finally:
        first.close()
        second.close()


def test_a_writer_of_a_row_per_event_continues_a_log_of_shared_rows(app):
    # during an upgrade a parindex 0.1 process (a row per event) may write beside 0.2 ones: it
    # continues from the head row's position, leaf index and chain, which keep their meaning
    fill_in_one_save(app, 4)
    head = app.recorder.integrity_head()
    raw = RawStore(app)
    oid, topic, state = uuid4(), "domain.access.model:AccessToken.Issued", b'{"old":"writer"}'
    position = head.position + 1
    leaf = leaf_hash(event_entry(position, oid, 1, topic, state))
    raw.run(("INSERT INTO {events} (originator_id, originator_version, topic, state, {pos}) "
             "VALUES (?, ?, ?, ?, ?)", (oid.hex if raw.kind == "sqlite" else oid, 1, topic,
                                        state, position)),
            ("INSERT INTO {integrity} (position, leaf_index, leaf_hash, chain_hash) "
             "VALUES (?, ?, ?, ?)", (position, head.leaf_index + 1, leaf,
                                     chain_hash(bytes(head.chain_hash), leaf))),
            unguard=False)
    raw.reset_sequence(position)
    fill_in_one_save(app, 3, prefix="after")
    report = verify(app.recorder)
    assert report.ok and report.events == 8, report.problems
