"""Events hashed and signed by parindex 0.1 verify in this version (see fixture_log.py)."""

from __future__ import annotations

import base64
from uuid import UUID

from domain.store.checkpoints import Checkpoint, parse_public_key
from domain.store.integrity import ProofService, check_consistency, check_inclusion, verify
from domain.store.merkle import ZERO_HASH, MerkleTree, chain_hash, event_entry, leaf_hash
from tests.integrity.fixture_log import load
from tests.integrity.helpers import RawStore, checkpointer, fill


def test_the_fixture_log_verifies_offline():
    fixture = load()
    checkpoint = Checkpoint.from_dict(fixture["checkpoint"])
    checkpoint.check_signature([parse_public_key(fixture["public_key"])])
    tree, chain = MerkleTree(), ZERO_HASH
    for index, (event, row) in enumerate(zip(fixture["events"], fixture["integrity"],
                                             strict=True)):
        leaf = leaf_hash(event_entry(event["position"], UUID(event["originator_id"]),
                                     event["originator_version"], event["topic"],
                                     base64.b64decode(event["state_base64"])))
        chain = chain_hash(chain, leaf)
        assert (row["position"], row["leaf_index"]) == (event["position"], index)
        assert (row["leaf_hash"], row["chain_hash"]) == (leaf.hex(), chain.hex())
        tree.append(leaf)
    assert tree.size == checkpoint.tree_size
    assert tree.root().hex() == checkpoint.root_hash
    assert chain.hex() == checkpoint.chain_hash


def load_into(app) -> Checkpoint:
    """Put the fixture's rows into the (empty) store as they were stored, bypassing the app."""
    fixture = load()
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


def test_the_fixture_log_verifies_in_the_store_and_this_version_extends_it(app, tmp_path):
    held = load_into(app)
    trusted = [parse_public_key(load()["public_key"])]
    report = verify(app.recorder, checkpoints=[("log_v1 checkpoint", held)],
                    trusted_keys=trusted)
    assert report.ok, report.problems
    assert report.tree_size == held.tree_size and report.log_id == held.log_id
    # the old events still load, and this version appends to the same chain
    first_token = UUID(load()["events"][0]["originator_id"])
    assert app.repository.get(first_token).holder == "thanh-tra.nguyen-van-a"
    fill(app, 3, prefix="v-next")
    assert verify(app.recorder, checkpoints=[("log_v1 checkpoint", held)],
                  trusted_keys=trusted).ok
    newer = checkpointer(app, tmp_path).run_once(force=True)
    proofs = ProofService(app.recorder)
    check_consistency(proofs.consistency(held.tree_size, newer.tree_size), held, newer)
    check_inclusion(proofs.inclusion(1, held.tree_size), held, trusted_keys=trusted)
