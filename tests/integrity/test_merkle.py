"""The hashing is RFC 6962's (checked against the Certificate Transparency test vectors) and the
entry encoding never changes (a golden value)."""

from __future__ import annotations

import hashlib
import random
from uuid import UUID

import pytest

from domain.store.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    chain_hash,
    event_entry,
    largest_power_of_two_below,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from domain.store.recorders import entry_leaf

# The inputs and roots of the RFC 6962 reference tests (certificate-transparency, merkle_test)
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PATH_0_OF_8 = ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]
CT_CONSISTENCY = {(1, 8): CT_PATH_0_OF_8,
                  (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                           "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                           "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
                  (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                           "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]}


def test_rfc6962_reference_roots_and_proofs():
    tree = MerkleTree(leaf_hash(d) for d in CT_LEAVES)
    frontier = Frontier()
    assert tree.root(0) == frontier.root() == EMPTY_ROOT
    for size, expected in enumerate(CT_ROOTS, start=1):
        frontier.append(tree.leaf(size - 1))
        assert tree.root(size).hex() == frontier.root().hex() == expected
    assert [h.hex() for h in tree.inclusion_proof(0, 8)] == CT_PATH_0_OF_8
    for (first, second), proof in CT_CONSISTENCY.items():
        assert [h.hex() for h in tree.consistency_proof(first, second)] == proof
        assert verify_consistency(first, tree.root(first), second, tree.root(second),
                                  [bytes.fromhex(h) for h in proof])


def _mth(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = largest_power_of_two_below(len(leaves))
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_every_proof_of_every_small_tree_verifies_and_tampered_ones_do_not():
    rng = random.Random(6962)
    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(300)]
    tree = MerkleTree(leaves)
    sizes = [*range(1, 34), 255, 256, 257, 300]
    for size in sizes:
        root = tree.root(size)
        assert root == _mth(leaves[:size])
        for index in rng.sample(range(size), min(size, 12)):
            path = tree.inclusion_proof(index, size)
            assert verify_inclusion(leaves[index], index, size, path, root)
            assert not verify_inclusion(leaves[index], index, size, path, bytes(32))
            if path:
                bad = list(path)
                bad[rng.randrange(len(bad))] = bytes(32)
                assert not verify_inclusion(leaves[index], index, size, bad, root)
        for first in rng.sample(range(1, size + 1), min(size, 12)):
            proof = tree.consistency_proof(first, size)
            assert verify_consistency(first, tree.root(first), size, root, proof)
            if first < size:
                assert not verify_consistency(first, bytes(32), size, root, proof)
                assert not verify_consistency(first, tree.root(first), size, bytes(32), proof)
                bad = list(proof)
                bad[rng.randrange(len(bad))] = bytes(32)
                assert not verify_consistency(first, tree.root(first), size, root, bad)


def test_a_frontier_extended_in_runs_has_the_roots_of_one_appended_leaf_by_leaf():
    rng = random.Random(9162)
    leaves = [hashlib.sha256(i.to_bytes(2, "big")).digest() for i in range(700)]
    tree = MerkleTree(leaves)
    for _ in range(20):
        frontier, size = Frontier(), 0
        while size < len(leaves):
            run = rng.choice([0, 1, 2, 3, 5, 8, 13, 64, 100, 256, 300])
            frontier.extend(leaves[size:size + run])
            size = min(size + run, len(leaves))
            assert frontier.size == size
            assert frontier.root() == tree.root(size)


def test_proof_requests_outside_the_tree_are_refused():
    tree = MerkleTree([leaf_hash(b"a"), leaf_hash(b"b")])
    with pytest.raises(ValueError):
        tree.inclusion_proof(2, 2)
    with pytest.raises(ValueError):
        tree.consistency_proof(1, 3)
    assert not verify_inclusion(tree.leaf(0), 5, 2, [], tree.root())


def test_the_entry_encoding_is_frozen():
    """Events hashed by this version must verify in every later one: never change these."""
    entry = event_entry(42, UUID("12345678-1234-5678-1234-567812345678"), 3,
                        "domain.scorecard.model:Scorecard.SelfScoreRecorded",
                        b'{"item_code":"1.1.1","note":"\xc4\x91\xc3\xa3 l\xc3\xa0m"}')
    assert entry.hex() == GOLDEN_ENTRY
    assert leaf_hash(entry).hex() == GOLDEN_LEAF
    assert event_entry(42, "text-id", 3, "t", b"") != event_entry(42, "text-id", 3, "t", b"\0")
    assert chain_hash(bytes(32), leaf_hash(entry)).hex() == GOLDEN_CHAIN
    # the write path's inlined copy of the encoding (domain/store/recorders.py)
    assert entry_leaf(42, UUID("12345678-1234-5678-1234-567812345678"), 3,
                      "domain.scorecard.model:Scorecard.SelfScoreRecorded",
                      b'{"item_code":"1.1.1","note":"\xc4\x91\xc3\xa3 l\xc3\xa0m"}'
                      ).hex() == GOLDEN_LEAF
    assert entry_leaf(7, "đơn-vị/STC", 2, "t", b"x") == leaf_hash(event_entry(7, "đơn-vị/STC",
                                                                              2, "t", b"x"))


# tag "PXE1" | u64 position 42 | u8 kind 1 (uuid) | u16 16 | the id's 16 bytes | u64 version 3 |
# u32 topic length | topic | u32 state length | state
GOLDEN_ENTRY = (
    "50584531" "000000000000002a" "01" "0010" "12345678123456781234567812345678"
    "0000000000000003" "00000032"
    "646f6d61696e2e73636f7265636172642e6d6f64656c3a53636f7265636172642e53656c6653636f7265"
    "5265636f72646564" "00000028"
    "7b226974656d5f636f6465223a22312e312e31222c226e6f7465223a22c491c3a3206cc3a06d227d")
GOLDEN_LEAF = "4c3ef0eadcb455c48a992581148e25d45eda2656271308df1c0a16a1d2969fe9"
GOLDEN_CHAIN = "9c8bbc56f599d706378f39ea738eda20a5b32eb0beb599f98d5eb1c8b8df8939"
