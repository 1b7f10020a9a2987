"""Hashing of the event log: leaf entries, the hash chain and an RFC 6962 Merkle tree.

Every stored event is one *entry* in global order. Its leaf hash is `SHA-256(0x00 ‖ entry)` and
inner nodes are `SHA-256(0x01 ‖ left ‖ right)` (RFC 6962 §2.1; the same as RFC 9162). The entry
is a length-prefixed, big-endian encoding of what the store keeps for the event, so changing any
stored byte, the event's id or version, its type (topic) or its global position changes the
leaf:

    b"PXE1"                          format tag (entry format 1)
    u64  position                    the event's global position (notification id)
    u8   id kind                     1 = UUID (16 raw bytes), 2 = text (UTF-8)
    u16  id length, id bytes
    u64  originator_version
    u32  topic length, topic bytes   UTF-8
    u32  state length, state bytes   exactly the stored bytes

Beside the tree, the leaves extend a linear hash chain, one link per *integrity row*. A row
holds the leaves of 1 to `MAX_LEAVES_PER_ROW` events at consecutive positions (one save's
events; its key is the position and leaf index of its LAST event), and
`chain[r] = SHA-256(chain[r-1] ‖ leaf_a ‖ … ‖ leaf_b)` over its leaves, with `chain[-1]` = 32
zero bytes, so a row can be checked against its predecessor without building a tree. A row of
one leaf is `SHA-256(chain ‖ leaf)`: parindex 0.1 wrote every row that way, so its logs are
logs of this format.

Only the standard library is used: this module is the reference an inspector can reimplement.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from uuid import UUID

ENTRY_TAG = b"PXE1"
ID_UUID = 1
ID_TEXT = 2
HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
# A row's leaves stay under PostgreSQL's 2 kB TOAST threshold (77 + 32 * 60 bytes a tuple), so
# a row is never moved out of line; a save of more events writes more rows.
MAX_LEAVES_PER_ROW = 60
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH of the empty tree (RFC 6962)

_sha256 = hashlib.sha256
ENTRY_HEAD = struct.Struct(">4sQBH")
ENTRY_MIDDLE = struct.Struct(">QI")
ENTRY_LENGTH = struct.Struct(">I")


def id_bytes(originator_id: UUID | str) -> tuple[int, bytes]:
    """The id's kind and bytes as they enter the entry."""
    if isinstance(originator_id, UUID):
        return ID_UUID, originator_id.bytes
    return ID_TEXT, str(originator_id).encode("utf-8")


def entry_bytes(position: int, id_kind: int, id_raw: bytes, originator_version: int,
                topic: str, state: bytes) -> bytes:
    topic_raw = topic.encode("utf-8")
    return b"".join((ENTRY_HEAD.pack(ENTRY_TAG, position, id_kind, len(id_raw)), id_raw,
                     ENTRY_MIDDLE.pack(originator_version, len(topic_raw)), topic_raw,
                     ENTRY_LENGTH.pack(len(state)), state))


def event_entry(position: int, originator_id: UUID | str, originator_version: int, topic: str,
                state: bytes) -> bytes:
    kind, raw = id_bytes(originator_id)
    return entry_bytes(position, kind, raw, originator_version, topic, bytes(state))


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def chain_hash(previous: bytes, leaves: bytes) -> bytes:
    """The chain after an integrity row whose leaves (concatenated) are `leaves`."""
    return _sha256(previous + leaves).digest()


def row_leaves(leaves: bytes) -> list[bytes]:
    """An integrity row's leaf hashes, in position order; ValueError when the row cannot be
    one this format writes (not a whole number of hashes, none, or too many)."""
    count, rest = divmod(len(leaves), HASH_SIZE)
    if rest or not 0 < count <= MAX_LEAVES_PER_ROW:
        raise ValueError(f"{len(leaves)} bytes of leaf hashes: not 1 to {MAX_LEAVES_PER_ROW} "
                         f"hashes of {HASH_SIZE} bytes")
    if count == 1:
        return [bytes(leaves)]
    return [bytes(leaves[i:i + HASH_SIZE]) for i in range(0, len(leaves), HASH_SIZE)]


def largest_power_of_two_below(n: int) -> int:
    """k with k < n <= 2k (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- streaming root ----------------------------------------------------------------------------


class Frontier:
    """The roots of the perfect subtrees of a growing tree (a compact range from 0): append
    costs one node hash on average, and `root()` folds at most log2(n) of them."""

    __slots__ = ("_hashes", "_heights", "size")

    def __init__(self) -> None:
        self._heights: list[int] = []
        self._hashes: list[bytes] = []
        self.size = 0

    def append(self, leaf: bytes) -> None:
        self._push(leaf, 0)

    def extend(self, leaves: Sequence[bytes]) -> None:
        """Append many leaves, as `append` each would, but hashing the largest perfect
        subtrees that fit a level at a time: a list comprehension per level instead of a
        Python call per leaf (the verifier appends whole windows of rows)."""
        done, count = 0, len(leaves)
        while done < count:
            # the largest 2^k leaves that fit and start at a multiple of 2^k
            height = (count - done).bit_length() - 1
            if self.size:
                height = min(height, (self.size & -self.size).bit_length() - 1)
            level = leaves[done:done + (1 << height)]
            while len(level) > 1:
                level = [_sha256(b"\x01" + left + right).digest()
                         for left, right in zip(level[::2], level[1::2], strict=True)]
            self._push(level[0], height)
            done += 1 << height

    def _push(self, node: bytes, height: int) -> None:
        """Add the root of a perfect subtree of 2^height leaves at the end (`size` is a
        multiple of 2^height), merging it with the equal subtrees before it."""
        heights, hashes = self._heights, self._hashes
        self.size += 1 << height
        while heights and heights[-1] == height:
            heights.pop()
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            height += 1
        heights.append(height)
        hashes.append(node)

    def root(self) -> bytes:
        """MTH of the leaves appended so far (RFC 6962 §2.1)."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        node = hashes[-1]
        for left in reversed(hashes[:-1]):
            node = _sha256(b"\x01" + left + node).digest()
        return node


# -- the tree, for proofs ----------------------------------------------------------------------

MEMO_MIN = 256  # perfect subtrees at least this big are remembered (leaves never change)


class MerkleTree:
    """Leaf hashes in memory (32 bytes each, one bytearray) with the RFC 6962 algorithms:
    MTH, PATH (inclusion proofs) and PROOF (consistency proofs). Perfect aligned subtrees are
    memoised, so after the first root a proof costs O(log n) node hashes plus at most
    MEMO_MIN leaves."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._leaves = bytearray()
        self._memo: dict[tuple[int, int], bytes] = {}
        self.size = 0
        for leaf in leaves:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash has 32 bytes")
        self._leaves += leaf
        self.size += 1

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return bytes(self._leaves[index * HASH_SIZE:(index + 1) * HASH_SIZE])

    def _perfect(self, start: int, n: int) -> bytes:
        """MTH of leaves [start, start+n) with n a power of two."""
        if n == 1:
            return self.leaf(start)
        if n >= MEMO_MIN:
            key = (start, n)
            cached = self._memo.get(key)
            if cached is None:
                half = n // 2
                cached = node_hash(self._perfect(start, half), self._perfect(start + half, half))
                self._memo[key] = cached
            return cached
        raw = self._leaves
        level = [bytes(raw[i * HASH_SIZE:(i + 1) * HASH_SIZE]) for i in range(start, start + n)]
        while len(level) > 1:
            level = [_sha256(b"\x01" + level[i] + level[i + 1]).digest()
                     for i in range(0, len(level), 2)]
        return level[0]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end])."""
        n = end - start
        if n <= 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0:
            return self._perfect(start, n)
        k = largest_power_of_two_below(n)
        return node_hash(self._perfect(start, k), self.subtree(start + k, end))

    def _check_size(self, tree_size: int) -> None:
        if not 0 <= tree_size <= self.size:
            raise ValueError(f"tree size {tree_size} is outside 0..{self.size}")

    def root(self, tree_size: int | None = None) -> bytes:
        tree_size = self.size if tree_size is None else tree_size
        self._check_size(tree_size)
        return self.subtree(0, tree_size)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """PATH(index, D[tree_size]) (RFC 6962 §2.1.1)."""
        self._check_size(tree_size)
        if not 0 <= index < tree_size:
            raise ValueError(f"leaf {index} is not in a tree of size {tree_size}")
        path: list[bytes] = []
        start, end = 0, tree_size
        while end - start > 1:
            k = largest_power_of_two_below(end - start)
            if index - start < k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """PROOF(first, D[second]) (RFC 6962 §2.1.2)."""
        self._check_size(second)
        if not 0 <= first <= second:
            raise ValueError(f"cannot prove {first} against {second}")
        if first in (0, second):
            return []
        proof: list[bytes] = []
        start, end, m, whole = 0, second, first, True
        while True:
            n = end - start
            if m == n:
                if not whole:
                    proof.append(self.subtree(start, end))
                break
            k = largest_power_of_two_below(n)
            if m <= k:
                proof.append(self.subtree(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree(start, start + k))
                start += k
                m -= k
                whole = False
        proof.reverse()
        return proof


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) -------------------------------------------


def root_from_inclusion(leaf: bytes, index: int, tree_size: int,
                        path: Sequence[bytes]) -> bytes | None:
    """The root a valid inclusion path leads to, or None when the path cannot be one."""
    if not 0 <= index < tree_size:
        return None
    fn, sn, node = index, tree_size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return node if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, tree_size: int, path: Sequence[bytes],
                     root: bytes) -> bool:
    return root_from_inclusion(leaf, index, tree_size, path) == root


def verify_consistency(first: int, first_root: bytes, second: int, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    proof = list(proof)
    if first & (first - 1) == 0:
        proof.insert(0, first_root)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for node in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
