"""Events hashed and signed by earlier versions of parindex verify in this version (see
fixture_log.py: log_v1 from 0.1, one integrity row per event; log_v2 from 0.2, where a save's
events share a row)."""

from __future__ import annotations

import base64
from pathlib import Path
from uuid import UUID

import pytest

from domain.store.checkpoints import Checkpoint, parse_public_key
from domain.store.integrity import ProofService, check_consistency, check_inclusion, verify
from domain.store.merkle import (
    ZERO_HASH,
    MerkleTree,
    chain_hash,
    event_entry,
    leaf_hash,
    row_leaves,
)
from tests.integrity.fixture_log import FIXTURES, load
from tests.integrity.helpers import RawStore, checkpointer, fill, fill_in_one_save

each_fixture = pytest.mark.parametrize("fixture_path", FIXTURES, ids=lambda p: p.stem)


@each_fixture
def test_the_fixture_log_verifies_offline(fixture_path: Path):
    fixture = load(fixture_path)
    checkpoint = Checkpoint.from_dict(fixture["checkpoint"])
    checkpoint.check_signature([parse_public_key(fixture["public_key"])])
    events = iter(fixture["events"])
    tree, chain = MerkleTree(), ZERO_HASH
    for row in fixture["integrity"]:
        stored = row_leaves(bytes.fromhex(row["leaf_hash"]))
        covered = [next(events) for _ in stored]
        # a row covers consecutive positions and is keyed by its last event and leaf
        assert [e["position"] for e in covered] == list(
            range(row["position"] - len(stored) + 1, row["position"] + 1))
        assert row["leaf_index"] == tree.size + len(stored) - 1
        for event, leaf in zip(covered, stored, strict=True):
            assert leaf == leaf_hash(event_entry(event["position"], UUID(event["originator_id"]),
                                                 event["originator_version"], event["topic"],
                                                 base64.b64decode(event["state_base64"])))
            tree.append(leaf)
        chain = chain_hash(chain, b"".join(stored))
        assert row["chain_hash"] == chain.hex()
    assert next(events, None) is None
    assert tree.size == checkpoint.tree_size
    assert tree.root().hex() == checkpoint.root_hash
    assert chain.hex() == checkpoint.chain_hash


def test_the_second_fixture_holds_a_row_of_several_events():
    assert max(len(row["leaf_hash"]) for row in load(FIXTURES[1])["integrity"]) > 64


def load_into(app, fixture_path: Path) -> Checkpoint:
    """Put the fixture's rows into the (empty) store as they were stored, bypassing the app."""
    fixture = load(fixture_path)
    raw = RawStore(app)
    sqlite = raw.kind == "sqlite"
    statements = []
    for event in fixture["events"]:
        oid = UUID(event["originator_id"])
        statements.append((
            "INSERT INTO {events} (originator_id, originator_version, topic, state, {pos}) "
            "VALUES (?, ?, ?, ?, ?)",
            (oid.hex if sqlite else oid, event["originator_version"], event["topic"],
             base64.b64decode(event["state_base64"]), event["position"])))
    for row in fixture["integrity"]:
        statements.append((
            "INSERT INTO {integrity} (position, leaf_index, leaf_hash, chain_hash) "
            "VALUES (?, ?, ?, ?)", (row["position"], row["leaf_index"],
                                    bytes.fromhex(row["leaf_hash"]),
                                    bytes.fromhex(row["chain_hash"]))))
    checkpoint = Checkpoint.from_dict(fixture["checkpoint"])
    statements.append(("INSERT INTO {checkpoints} (tree_size, signed_at, document) "
                       "VALUES (?, ?, ?)", (checkpoint.tree_size, checkpoint.timestamp,
                                            checkpoint.to_json())))
    raw.run(*statements, unguard=False)
    raw.reset_sequence(fixture["events"][-1]["position"])
    return checkpoint


@each_fixture
def test_the_fixture_log_verifies_in_the_store_and_this_version_extends_it(app, tmp_path,
                                                                          fixture_path):
    held = load_into(app, fixture_path)
    trusted = [parse_public_key(load(fixture_path)["public_key"])]
    label = f"{fixture_path.stem} checkpoint"
    report = verify(app.recorder, checkpoints=[(label, held)], trusted_keys=trusted)
    assert report.ok, report.problems
    assert report.tree_size == held.tree_size and report.log_id == held.log_id
    # the old events still load, and this version appends to the same chain
    first_token = UUID(load(fixture_path)["events"][0]["originator_id"])
    assert app.repository.get(first_token).holder == "thanh-tra.nguyen-van-a"
    fill(app, 3, prefix="v-next")
    fill_in_one_save(app, 4, prefix="v-next-batch")
    assert verify(app.recorder, checkpoints=[(label, held)], trusted_keys=trusted).ok
    newer = checkpointer(app, tmp_path).run_once(force=True)
    proofs = ProofService(app.recorder)
    check_consistency(proofs.consistency(held.tree_size, newer.tree_size), held, newer)
    check_inclusion(proofs.inclusion(1, held.tree_size), held, trusted_keys=trusted)
