"""Integrity of the event log for inspectors who need not trust the operator.

The recorders (`domain/store/recorders.py`) hash every event into `<app>_integrity` in the
transaction that stores it (leaf, leaf index, hash chain; see `domain/store/merkle.py`). This
module builds on that:

- `verify(recorder, ...)`: the reference verifier. It recomputes every leaf from the stored
  events rows, checks the leaf sequence and the hash chain, the RFC 6962 root at every stored
  and given checkpoint, the checkpoints' signatures, and optionally the evidence files; it
  names the first bad position, checkpoint or file.
- `LogTree`: the integrity rows in memory as a Merkle tree, kept in step with the store.
- `Checkpointer`: signs a tree head every N events or T seconds (Ed25519), refusing to sign a
  log that is not an append-only extension of the checkpoints already stored.
- `ProofService`: inclusion and consistency proofs (RFC 6962) as JSON documents.
- `check_inclusion` / `check_consistency` / `check_checkpoint`: the offline checks an
  inspector runs on those documents, with nothing but a checkpoint and a public key.
- `IntegrityMonitor`: `verify` in a thread, with a `status()` for /health.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import json
import logging
import os
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.store.checkpoints import (
    KEY_FILE_SETTING,
    Checkpoint,
    CheckpointError,
    load_public_key_file,
    load_signing_key,
    sign_checkpoint,
    utc_text,
)
from domain.store.merkle import (
    ENTRY_HEAD,
    ENTRY_LENGTH,
    ENTRY_MIDDLE,
    ENTRY_TAG,
    ID_TEXT,
    ID_UUID,
    MAX_LEAVES_PER_ROW,
    ZERO_HASH,
    Frontier,
    MerkleTree,
    entry_bytes,
    leaf_hash,
    root_from_inclusion,
    row_leaves,
    verify_consistency,
)
from domain.store.recorders import EntryRow, IntegrityRecorder, IntegrityTuple, RawEntry

log = logging.getLogger("parindex.integrity")

INCLUSION_FORMAT = "parindex-inclusion/1"
CONSISTENCY_FORMAT = "parindex-consistency/1"
CHUNK = 1 << 16

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class TamperDetected(Exception):
    """The stored log or its integrity rows do not agree; `position` names where."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


class ProofRejected(Exception):
    """An inclusion or consistency proof does not hold against the given checkpoint(s)."""


# -- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntegritySettings:
    """Read from the environment (every value optional):

    - PARINDEX_SIGNING_KEY_FILE: the Ed25519 key (`parindex keys generate`); no key, no
      checkpoints.
    - PARINDEX_CHECKPOINT_EVERY_EVENTS (1000) / PARINDEX_CHECKPOINT_EVERY_SECONDS (300): sign
      a new tree head when this many events, or this much time with at least one event, have
      passed since the last one.
    - PARINDEX_INTEGRITY_CHECK_SECONDS (3600): how often the monitor verifies the whole log.
    - PARINDEX_TRUSTED_KEYS: public key files (comma-separated) whose checkpoints count;
      default: the signing key's own public key.
    """

    signing_key_file: Path | None = None
    checkpoint_every_events: int = 1000
    checkpoint_every_seconds: float = 300.0
    check_every_seconds: float = 3600.0
    trusted_key_files: tuple[Path, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IntegritySettings:
        environ = os.environ if environ is None else environ

        def number(name: str, default: float) -> float:
            raw = environ.get(name, "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise CheckpointError(f"{name} must be a number, not {raw!r}") from None
            if value <= 0:
                raise CheckpointError(f"{name} must be positive")
            return value

        key = environ.get(KEY_FILE_SETTING, "").strip()
        trusted = tuple(Path(p.strip()) for p in environ.get("PARINDEX_TRUSTED_KEYS", "")
                        .split(",") if p.strip())
        return cls(signing_key_file=Path(key) if key else None,
                   checkpoint_every_events=int(number("PARINDEX_CHECKPOINT_EVERY_EVENTS", 1000)),
                   checkpoint_every_seconds=number("PARINDEX_CHECKPOINT_EVERY_SECONDS", 300),
                   check_every_seconds=number("PARINDEX_INTEGRITY_CHECK_SECONDS", 3600),
                   trusted_key_files=trusted)

    def signing_key(self) -> Ed25519PrivateKey | None:
        return None if self.signing_key_file is None else load_signing_key(self.signing_key_file)

    def trusted_keys(self) -> list[Ed25519PublicKey] | None:
        """The keys checkpoints must be signed with, or None (then each checkpoint's own
        embedded key is used: integrity without authenticity)."""
        keys = [load_public_key_file(path) for path in self.trusted_key_files]
        signing = self.signing_key()
        if signing is not None:
            keys.append(signing.public_key())
        return keys or None


# -- stored checkpoints ------------------------------------------------------------------------


def stored_checkpoints(recorder: IntegrityRecorder, limit: int | None = None
                       ) -> list[Checkpoint]:
    """Stored checkpoints, newest first (a row that does not parse raises CheckpointError)."""
    return [Checkpoint.from_json(text) for text in recorder.checkpoint_documents(limit)]


def latest_checkpoint(recorder: IntegrityRecorder) -> Checkpoint | None:
    found = stored_checkpoints(recorder, 1)
    return found[0] if found else None


def check_checkpoint(checkpoint: Checkpoint, *,
                     trusted_keys: Iterable[Ed25519PublicKey] | None = None,
                     max_age: timedelta | None = None, now: datetime | None = None,
                     previous: Checkpoint | None = None) -> None:
    """Raise CheckpointError unless the checkpoint is validly signed (by a trusted key when
    given), fresh (signed within `max_age`), of the same log as `previous` and not older than
    it (a stale checkpoint replayed to hide newer entries)."""
    checkpoint.check_signature(trusted_keys)
    now = now or utc_now()
    if checkpoint.time > now + timedelta(minutes=5):
        raise CheckpointError(f"checkpoint of size {checkpoint.tree_size} is dated in the "
                              f"future ({checkpoint.timestamp})")
    if max_age is not None and now - checkpoint.time > max_age:
        raise CheckpointError(
            f"stale checkpoint: size {checkpoint.tree_size} signed {checkpoint.timestamp}, "
            f"more than {max_age} ago")
    if previous is not None:
        if previous.log_id != checkpoint.log_id:
            raise CheckpointError(
                f"checkpoint of another log: log_id {checkpoint.log_id[:16]}…, the one you "
                f"hold is {previous.log_id[:16]}…")
        if checkpoint.tree_size < previous.tree_size or checkpoint.time < previous.time:
            raise CheckpointError(
                f"stale checkpoint: size {checkpoint.tree_size} signed {checkpoint.timestamp} "
                f"is older than the one you hold (size {previous.tree_size}, signed "
                f"{previous.timestamp})")


# -- the reference verifier --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    message: str
    position: int | None = None
    file: str | None = None
    checkpoint: int | None = None

    @property
    def where(self) -> str:
        if self.position is not None:
            return f"position {self.position}"
        if self.file is not None:
            return f"file {self.file}"
        if self.checkpoint is not None:
            return f"checkpoint {self.checkpoint}"
        return "log"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class VerificationReport:
    tree_size: int = 0
    last_position: int = 0
    root_hash: str = ""
    chain_hash: str = ""
    log_id: str | None = None
    events: int = 0
    seconds: float = 0.0
    checkpoints_checked: int = 0
    newest_checkpoint: Checkpoint | None = None
    blobs_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        head = (f"{self.tree_size} entries up to position {self.last_position}, root "
                f"{self.root_hash[:16]}…, {self.checkpoints_checked} checkpoints, "
                f"{self.blobs_checked} evidence files, {self.seconds:.2f} s")
        if self.ok:
            return f"OK: {head}"
        return f"FAILED ({self.problem_count} problems; first at {self.first_problem}): {head}"


class _Collector:
    def __init__(self, report: VerificationReport, limit: int):
        self.report, self.limit = report, limit

    def add(self, problem: Problem) -> None:
        self.report.problem_count += 1
        if len(self.report.problems) < self.limit:
            self.report.problems.append(problem)


@dataclass
class _Expected:
    """A checkpoint the pass compares its root against when it reaches its size."""

    checkpoint: Checkpoint
    label: str  # "checkpoint 1200" or the file the inspector gave
    external: bool


class _Utf8(dict[str, bytes]):
    """topic -> its UTF-8 bytes, each topic encoded once (a log has few topics)."""

    def __missing__(self, topic: str) -> bytes:
        raw = self[topic] = topic.encode("utf-8")
        return raw


class _Pass:
    """The state of `verify`'s one pass over the log, fed a window of positions at a time.

    `window` checks a window in bulk, list against list, when its events are exactly those its
    integrity rows' leaves cover and all hold: the normal case, and where a pass spends its
    time, so it runs in comprehensions, not a Python iteration per leaf. A window with any
    disagreement goes through `merge` instead, leaf by leaf, which names each problem and its
    position."""

    def __init__(self, report: VerificationReport, problems: _Collector,
                 expected: dict[int, list[_Expected]], kind: int,
                 evidence_refs: Callable[[EntryRow], Iterable[str]] | None):
        self.report, self.problems, self.expected = report, problems, expected
        self.kind, self.evidence_refs = kind, evidence_refs
        self.frontier = Frontier()
        self.size, self.chain, self.previous_position = 0, ZERO_HASH, 0
        self.good_size, self.good_position = 0, 0  # the largest checkpoint that held so far
        self.positions: dict[int, int] = {}  # leaf index -> position, where a message needs it
        self.wanted = {0, *expected}
        self.marks = sorted(self.wanted)  # the same sizes, in order, for `_take`
        self.referenced: dict[str, int] = {}
        self.topics = _Utf8()

    def window(self, entries: list[RawEntry], rows: list[IntegrityTuple]) -> bool:
        """Take in a window whose events are exactly those its integrity rows cover and whose
        leaf indexes, leaves and chain hashes all hold; False, having changed nothing, when
        anything differs (`merge` then finds and names it)."""
        if not rows:
            return not entries
        size = self.size
        if len(entries) == len(rows):  # a leaf a row: 1-event saves, and every 0.1 log
            positions = [row[0] for row in rows]
            if [row[1] for row in rows] != list(range(size, size + len(rows))):
                return False
            leaves = [row[2] for row in rows]
            leaf_chains = [row[3] for row in rows]
        else:
            positions, leaves, leaf_chains = [], [], []
            end = size
            for position, leaf_index, row_hashes, row_chain in rows:
                try:
                    row = row_leaves(row_hashes)
                except ValueError:
                    return False
                count = len(row)
                if leaf_index != end + count - 1:
                    return False
                end += count
                positions.extend(range(position - count + 1, position + 1))
                leaves.extend(row)
                leaf_chains.extend([b""] * (count - 1))  # no chain inside a row
                leaf_chains.append(row_chain)
        if [entry[0] for entry in entries] != positions or self._leaves(entries) != leaves:
            return False
        chains = [row[3] for row in rows]
        sha256 = hashlib.sha256
        if [sha256(previous + row[2]).digest() for previous, row
                in zip([self.chain, *chains[:-1]], rows, strict=True)] != chains:
            return False
        self._collect_references(entries)
        self._take(positions, leaves, leaf_chains)
        return True

    def _take(self, positions: list[int], leaves: list[bytes], leaf_chains: list[bytes]
              ) -> None:
        """Add a window's leaves that hold to the tree, as `merge` would one by one: the root
        is compared at each expected checkpoint's size on the way. `leaf_chains[i]` is the
        chain after leaf i where a row ends there, else b"" (no chain inside a row)."""
        size, end = self.size, self.size + len(leaves)
        self.report.events += len(leaves)
        if size == 0:
            self.report.log_id = leaves[0].hex()
        marks = self.marks
        for index in marks[bisect.bisect_left(marks, size):bisect.bisect_left(marks, end)]:
            self.positions[index] = positions[index - size]
        taken = 0
        for cut in marks[bisect.bisect_right(marks, size):bisect.bisect_right(marks, end)]:
            self.frontier.extend(leaves[taken:cut - size])
            taken = cut - size
            self.size = cut
            self._compare_checkpoints(positions[taken - 1], leaf_chains[taken - 1])
        self.frontier.extend(leaves[taken:])
        self.size, self.chain, self.previous_position = end, leaf_chains[-1], positions[-1]

    def merge(self, entries: list[RawEntry], rows: list[IntegrityTuple]) -> None:
        """Merge the window's events and the leaves of its integrity rows by position, a leaf
        at a time, and report each disagreement where it is."""
        problems, report, sha256 = self.problems, self.report, hashlib.sha256
        entries_left, leaves_left = iter(entries), iter(self._row_leaves(rows))
        entry = next(entries_left, None)
        leaf = next(leaves_left, None)
        while entry is not None or leaf is not None:
            if leaf is None or (entry is not None and entry[0] < leaf[0]):
                assert entry is not None
                problems.add(Problem("event has no integrity row: it was written around the "
                                     "recorder, or its integrity row was deleted",
                                     position=entry[0]))
                report.events += 1
                entry = next(entries_left, None)
                continue
            position, leaf_index, stored_leaf, row = leaf
            if leaf_index != self.size:
                problems.add(Problem(
                    f"integrity row out of sequence (leaf index {leaf_index}, expected "
                    f"{self.size}): an entry between positions {self.previous_position} and "
                    f"{position} was removed, inserted or moved", position=position))
            if entry is None or position < entry[0]:
                problems.add(Problem("event missing: the integrity log records an event at "
                                     "this position but the events table has none (deleted "
                                     "or moved)", position=position))
            else:
                if self._leaves([entry])[0] != stored_leaf:
                    problems.add(Problem("the stored event differs from the one hashed when it "
                                         "was written: its id, version, type, bytes or "
                                         "position were changed", position=position))
                self._collect_references([entry])
                report.events += 1
                entry = next(entries_left, None)
            chain = b""  # none inside a row
            if row is not None:  # the row's last leaf: its chain link
                if sha256(self.chain + row[2]).digest() != row[3]:
                    problems.add(Problem("hash chain broken: this row's chain hash does not "
                                         "follow from the previous row's (an integrity row "
                                         "was changed, removed or inserted)",
                                         position=position))
                chain = self.chain = row[3]
            if self.size in self.wanted:
                self.positions[self.size] = position
            if self.size == 0:
                report.log_id = stored_leaf.hex()
            self.frontier.append(stored_leaf)
            self.size += 1
            self.previous_position = position
            leaf = next(leaves_left, None)
            if self.size in self.expected:
                self._compare_checkpoints(position, chain)

    def _row_leaves(self, rows: list[IntegrityTuple]
                    ) -> Iterator[tuple[int, int, bytes, IntegrityTuple | None]]:
        """The rows' leaves as (position, leaf index, leaf, the row where it is the row's last
        leaf else None); a malformed row is reported and taken as one leaf."""
        for row in rows:
            position, leaf_index, row_hashes, _ = row
            try:
                leaves = row_leaves(row_hashes)
            except ValueError as error:
                self.problems.add(Problem(f"integrity row malformed ({error}): it was changed "
                                          "or written around the recorder",
                                          position=position))
                leaves = [bytes(row_hashes)]
            last = len(leaves) - 1
            for i, one in enumerate(leaves):
                yield (position - last + i, leaf_index - last + i, one,
                       row if i == last else None)

    def _leaves(self, entries: list[RawEntry]) -> list[bytes]:
        """The events rows' leaf hashes: merkle.entry_bytes, inlined (the golden test pins
        both to one encoding)."""
        sha256, kind, topics = hashlib.sha256, self.kind, self.topics
        pack_head, pack_middle, pack_length = ENTRY_HEAD.pack, ENTRY_MIDDLE.pack, ENTRY_LENGTH.pack
        return [sha256(b"".join((
            b"\x00", pack_head(ENTRY_TAG, position, kind, len(raw)), raw,
            pack_middle(version, len(topic_raw := topics[topic])), topic_raw,
            pack_length(len(state)), state))).digest()
            for position, raw, version, topic, state in entries]

    def _collect_references(self, entries: list[RawEntry]) -> None:
        """The evidence files the events refer to, each with the first position naming it."""
        if self.evidence_refs is None:
            return
        for entry in entries:
            try:
                for sha in self.evidence_refs(EntryRow(entry[0], self.kind, *entry[1:])):
                    self.referenced.setdefault(sha, entry[0])
            except Exception:  # an altered row may not decode; its leaf tells
                pass

    def _compare_checkpoints(self, position: int, chain: bytes) -> None:
        """The log has reached the size of expected checkpoints (`position` its last entry,
        `chain` the chain there, b"" inside a row): each must be of this log and sign its
        root, chain hash and last position."""
        report, size = self.report, self.size
        root = self.frontier.root()
        all_held = True
        for item in self.expected[size]:
            cp = item.checkpoint
            if cp.log_id != report.log_id:
                all_held = False
                self.problems.add(Problem(
                    f"{item.label} is not of this log (its log_id {cp.log_id[:16]}…, this "
                    f"log's {str(report.log_id)[:16]}…): another deployment's checkpoint, "
                    "or this log was rewritten from its first entry",
                    checkpoint=cp.tree_size))
            elif root != cp.root or chain.hex() != cp.chain_hash \
                    or position != cp.last_position:
                all_held = False
                first = self.positions.get(self.good_size, self.good_position + 1)
                self.problems.add(Problem(
                    f"{item.label} (signed {cp.timestamp}) does not hold: the log is not "
                    f"an append-only extension of it. An entry among leaves "
                    f"{self.good_size + 1}..{size} (positions {first}..{position}) was "
                    "changed, removed, inserted or reordered after it was signed",
                    position=first, checkpoint=cp.tree_size))
        if all_held:
            self.good_size, self.good_position = size, position


def verify(recorder: IntegrityRecorder, *, checkpoints: Sequence[tuple[str, Checkpoint]] = (),
           trusted_keys: Iterable[Ed25519PublicKey] | None = None,
           check_stored: bool = True, max_age: timedelta | None = None,
           blob_dir: Path | None = None,
           evidence_refs: Callable[[EntryRow], Iterable[str]] | None = None,
           now: datetime | None = None, max_problems: int = 50) -> VerificationReport:
    """Verify the whole log; `checkpoints` are (label, checkpoint) pairs the inspector holds
    (the log must be an append-only extension of each)."""
    started = time.perf_counter()
    now = now or utc_now()
    trusted = list(trusted_keys) if trusted_keys is not None else None
    report = VerificationReport()
    problems = _Collector(report, max_problems)
    if trusted is None:
        report.notes.append("no trusted public key given: signatures were checked against "
                            "each checkpoint's own key (integrity, not authenticity)")

    expected: dict[int, list[_Expected]] = {}
    stored: list[Checkpoint] = []
    if check_stored:
        for text in recorder.checkpoint_documents():
            try:
                stored.append(Checkpoint.from_json(text))
            except CheckpointError as error:
                problems.add(Problem(f"stored checkpoint unreadable: {error}"))
    report.newest_checkpoint = stored[0] if stored else None
    for checkpoint in stored:
        label = f"stored checkpoint of size {checkpoint.tree_size}"
        try:
            checkpoint.check_signature(trusted)
        except CheckpointError as error:
            problems.add(Problem(f"{label}: {error}", checkpoint=checkpoint.tree_size))
            continue
        expected.setdefault(checkpoint.tree_size, []).append(_Expected(checkpoint, label, False))
    for label, checkpoint in checkpoints:
        try:
            checkpoint.check_signature(trusted)
        except CheckpointError as error:
            problems.add(Problem(f"{label}: {error}", checkpoint=checkpoint.tree_size))
            continue
        expected.setdefault(checkpoint.tree_size, []).append(_Expected(checkpoint, label, True))
    report.checkpoints_checked = sum(len(v) for v in expected.values())
    # Read the heads after the checkpoints and bound both streams by them: rows up to there
    # were committed together, rows written during the pass are left for the next one.
    head = recorder.integrity_head()
    stop = max(head.position if head else 0, recorder.max_notification_id() or 0)

    # One pass over the events and the integrity rows, a window of positions at a time.
    walk = _Pass(report, problems, expected, recorder.id_kind, evidence_refs)
    for entries, rows in _aligned(recorder.iter_windows(stop=stop)):
        if not walk.window(entries, rows):
            walk.merge(entries, rows)
    size, previous_position, referenced = walk.size, walk.previous_position, walk.referenced
    report.tree_size = size
    report.last_position = previous_position
    report.root_hash = walk.frontier.root().hex()
    report.chain_hash = walk.chain.hex()
    for cp_size, items in sorted(expected.items()):
        if cp_size <= size:
            continue
        for item in items:
            cp = item.checkpoint
            problems.add(Problem(
                f"log truncated: {item.label} covers {cp.tree_size} entries up to position "
                f"{cp.last_position}, the log has only {size} (up to position "
                f"{previous_position}); the entries after position {previous_position} are "
                "gone", position=previous_position + 1, checkpoint=cp.tree_size))
    _check_newest(report, problems, stored, checkpoints, size, max_age, now)
    if blob_dir is not None:
        _verify_blobs(Path(blob_dir), referenced, report, problems)
    report.seconds = time.perf_counter() - started
    return report


def _aligned(windows: Iterable[tuple[list[RawEntry], list[IntegrityTuple]]]
             ) -> Iterator[tuple[list[RawEntry], list[IntegrityTuple]]]:
    """The windows of positions regrouped so that each holds the events its integrity rows
    cover. A row is keyed by its last event's position and covers up to
    MAX_LEAVES_PER_ROW - 1 positions before it, which may fall in the previous window: a
    window's events after its last row wait for the next window, except those no later row
    can cover (a later row's position is above every position seen so far)."""
    held: list[RawEntry] = []
    for entries, rows in windows:
        if held:
            entries, held = held + entries, []
        highest = max(entries[-1][0] if entries else 0, rows[-1][0] if rows else 0)
        release = max(rows[-1][0] if rows else 0, highest - MAX_LEAVES_PER_ROW)
        cut = len(entries)
        while cut and entries[cut - 1][0] > release:
            cut -= 1
        held = entries[cut:]
        yield entries[:cut], rows
    if held:
        yield held, []


def _check_newest(report: VerificationReport, problems: _Collector, stored: list[Checkpoint],
                  given: Sequence[tuple[str, Checkpoint]], size: int,
                  max_age: timedelta | None, now: datetime) -> None:
    newest = stored[0] if stored else None
    for label, checkpoint in given:
        if newest is None or newest.tree_size < checkpoint.tree_size:
            problems.add(Problem(
                f"the store's newest checkpoint ({'none' if newest is None else newest.tree_size}"
                f") is older than {label} (size {checkpoint.tree_size}): stored checkpoints "
                "were removed or rolled back", checkpoint=checkpoint.tree_size))
    if max_age is not None and size:
        if newest is None:
            problems.add(Problem(f"no checkpoint signed yet for {size} entries"))
        elif newest.tree_size < size and now - newest.time > max_age:
            problems.add(Problem(
                f"stale: the newest checkpoint (size {newest.tree_size}, signed "
                f"{newest.timestamp}) is more than {max_age} old and {size - newest.tree_size} "
                "newer entries are not covered: is the checkpointer running?",
                checkpoint=newest.tree_size))


def _verify_blobs(root: Path, referenced: Mapping[str, int], report: VerificationReport,
                  problems: _Collector) -> None:
    """Every file in the blob store must hash to its name; every referenced file must exist."""
    seen = set()
    if root.is_dir():
        for directory in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(directory.iterdir()):
                if not path.is_file():
                    continue
                name = path.name
                report.blobs_checked += 1
                if len(name) != 64 or name[:2] != directory.name or \
                        any(c not in "0123456789abcdef" for c in name):
                    problems.add(Problem("not named by its SHA-256 (a file put there by hand)",
                                         file=str(path)))
                    continue
                seen.add(name)
                digest = hashlib.sha256()
                with path.open("rb") as stream:
                    while chunk := stream.read(CHUNK):
                        digest.update(chunk)
                if digest.hexdigest() != name:
                    problems.add(Problem("content does not match its SHA-256 (altered or "
                                         "damaged)", file=str(path)))
    for sha, position in sorted(referenced.items(), key=lambda item: item[1]):
        if sha not in seen:
            problems.add(Problem(f"missing: evidence attached at position {position} is not in "
                                 "the blob store", file=str(root / sha[:2] / sha)))


def evidence_refs_by_mapper(mapper: Any, topic_suffix: str = ".EvidenceAttached"
                            ) -> Callable[[EntryRow], Iterable[str]]:
    """An `evidence_refs` hook: the `sha256` of every event whose topic ends with
    `topic_suffix`, decoded with the application's mapper (so compression or a cipher is
    undone the way the application does it)."""
    from eventsourcing.persistence import StoredEvent

    def refs(entry: EntryRow) -> Iterable[str]:
        if not entry.topic.endswith(topic_suffix):
            return ()
        event = mapper.to_domain_event(StoredEvent(
            originator_id=entry.originator_id, originator_version=entry.originator_version,
            topic=entry.topic, state=bytes(entry.state)))
        sha = getattr(event, "sha256", None)
        return (sha,) if isinstance(sha, str) else ()

    return refs


# -- the log as a tree -------------------------------------------------------------------------


class LogTree:
    """The integrity rows as an in-memory Merkle tree (32 bytes a leaf), synced incrementally;
    each sync checks the leaf sequence and chain of the new rows."""

    def __init__(self, recorder: IntegrityRecorder):
        self.recorder = recorder
        self.tree = MerkleTree()
        self.positions = array("q")
        self.chain = ZERO_HASH
        self.lock = threading.RLock()

    @property
    def size(self) -> int:
        return self.tree.size

    @property
    def log_id(self) -> str | None:
        return self.tree.leaf(0).hex() if self.tree.size else None

    @property
    def last_position(self) -> int:
        return self.positions[-1] if self.positions else 0

    def sync(self) -> int:
        with self.lock:
            for row in self.recorder.iter_integrity(self.last_position):
                try:
                    leaves = row_leaves(row.leaf_hash)
                except ValueError as error:
                    raise TamperDetected(f"integrity row at position {row.position} is "
                                         f"malformed: {error}", row.position) from None
                count = len(leaves)
                if row.leaf_index != self.tree.size + count - 1:
                    raise TamperDetected(f"integrity row at position {row.position} has leaf "
                                         f"index {row.leaf_index}, expected "
                                         f"{self.tree.size + count - 1}", row.position)
                chain = bytes(row.chain_hash)
                if hashlib.sha256(self.chain + bytes(row.leaf_hash)).digest() != chain:
                    raise TamperDetected(f"hash chain broken at position {row.position}",
                                         row.position)
                for leaf in leaves:
                    self.tree.append(leaf)
                self.positions.extend(range(row.position - count + 1, row.position + 1))
                self.chain = chain
            return self.tree.size

    def index_of(self, position: int) -> int | None:
        i = bisect.bisect_left(self.positions, position)
        return i if i < len(self.positions) and self.positions[i] == position else None


# -- checkpoints -------------------------------------------------------------------------------


class CheckpointRefused(Exception):
    """The checkpointer will not sign: the log is not an extension of what it signed before."""


@dataclass
class CheckpointerStatus:
    last_size: int | None = None
    last_timestamp: str | None = None
    last_round_at: str | None = None
    error: str | None = None


class Checkpointer:
    """Signs a tree head every `every_events` events or `every_seconds` seconds (when at least
    one event is new) and stores it in `<app>_checkpoints`. Before signing it checks that the
    stored checkpoints still hold for the log it is about to sign (and never signs a log that
    is not their append-only extension)."""

    def __init__(self, recorder: IntegrityRecorder, key: Ed25519PrivateKey, *,
                 every_events: int = 1000, every_seconds: float = 300.0,
                 clock: Clock | None = None, poll_seconds: float = 1.0):
        self.recorder = recorder
        self.key = key
        self.every_events = max(1, int(every_events))
        self.every_seconds = every_seconds
        self.clock = clock or utc_now
        self.poll_seconds = poll_seconds
        self.log = LogTree(recorder)
        self._checked: set[int] = set()
        self._status = CheckpointerStatus()
        self._last_logged_error: str | None = None

    @classmethod
    def from_env(cls, recorder: IntegrityRecorder,
                 environ: Mapping[str, str] | None = None) -> Checkpointer | None:
        """A checkpointer from the PARINDEX_* settings, or None (with a warning) when no
        signing key is configured. A configured but unreadable key raises CheckpointError."""
        settings = IntegritySettings.from_env(environ)
        key = settings.signing_key()
        if key is None:
            log.warning("integrity: %s is not set; no checkpoints will be signed",
                        KEY_FILE_SETTING)
            return None
        return cls(recorder, key, every_events=settings.checkpoint_every_events,
                   every_seconds=settings.checkpoint_every_seconds)

    def _check_stored(self, checkpoints: Iterable[Checkpoint]) -> None:
        for checkpoint in checkpoints:
            if checkpoint.tree_size in self._checked:
                continue
            if checkpoint.tree_size > self.log.size:
                raise CheckpointRefused(
                    f"a stored checkpoint covers {checkpoint.tree_size} entries but the log "
                    f"has {self.log.size}: the log was truncated")
            checkpoint.check_signature()
            size = checkpoint.tree_size
            if (checkpoint.log_id != self.log.log_id
                    or self.log.tree.root(size).hex() != checkpoint.root_hash
                    or self.log.positions[size - 1] != checkpoint.last_position):
                raise CheckpointRefused(
                    f"the log no longer matches the stored checkpoint of size {size} (signed "
                    f"{checkpoint.timestamp}): it is not an append-only extension; run "
                    "`parindex verify`")
            self._checked.add(size)

    def run_once(self, force: bool = False) -> Checkpoint | None:
        """One round: sign and store a checkpoint if one is due (or `force`); None if not."""
        with self.log.lock:
            now = self.clock()
            self._status.last_round_at = utc_text(now)
            size = self.log.sync()
            stored = stored_checkpoints(self.recorder) if not self._checked else \
                stored_checkpoints(self.recorder, 1)
            self._check_stored(stored)
            newest = stored[0] if stored else None
            if newest is not None:
                self._status.last_size = newest.tree_size
                self._status.last_timestamp = newest.timestamp
            if size == 0 or (newest is not None and newest.tree_size >= size):
                return None
            due = (force or newest is None
                   or size - newest.tree_size >= self.every_events
                   or (now - newest.time).total_seconds() >= self.every_seconds)
            if not due:
                return None
            checkpoint = sign_checkpoint(
                self.key, log_id=self.log.log_id or "", tree_size=size,
                last_position=self.log.last_position, root_hash=self.log.tree.root(size),
                chain_hash=self.log.chain, moment=now)
            if self.recorder.insert_checkpoint(size, now, checkpoint.to_json()):
                log.info("integrity: signed checkpoint of size %d (position %d, root %s…)",
                         size, checkpoint.last_position, checkpoint.root_hash[:16])
            else:  # another process signed this size first
                checkpoint = Checkpoint.from_json(self.recorder.checkpoint_document(size) or "")
            self._checked.add(size)
            self._status.last_size, self._status.last_timestamp = size, checkpoint.timestamp
            return checkpoint

    def status(self) -> dict[str, Any]:
        return dict(vars(self._status))

    def _round(self) -> None:
        try:
            self.run_once()
            self._status.error = None
            self._last_logged_error = None
        except (CheckpointRefused, TamperDetected, CheckpointError) as error:
            self._status.error = str(error)
            if str(error) != self._last_logged_error:
                log.error("integrity: checkpointer refuses to sign: %s", error)
                self._last_logged_error = str(error)
        except Exception as error:
            self._status.error = f"{type(error).__name__}: {error}"
            log.exception("integrity: checkpointer round failed")

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        """Run rounds every `poll_seconds` in a daemon thread until the event is set."""
        return _start_loop("parindex-checkpointer", self._round, self.poll_seconds)


def _start_loop(name: str, step: Callable[[], None], interval: float
                ) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            step()
            stop.wait(interval)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread, stop


# -- proofs ------------------------------------------------------------------------------------


def _entry_document(entry: EntryRow) -> dict[str, Any]:
    originator_id = entry.originator_id
    return {"position": entry.position,
            "originator_id": str(originator_id),
            "originator_id_kind": "uuid" if entry.id_kind == ID_UUID else "text",
            "originator_version": entry.originator_version, "topic": entry.topic,
            "state_base64": base64.b64encode(bytes(entry.state)).decode("ascii")}


def entry_leaf_hash(document: Mapping[str, Any]) -> bytes:
    """Recompute a leaf hash from an inclusion document's `entry`."""
    try:
        kind = document["originator_id_kind"]
        if kind == "uuid":
            raw, id_kind = UUID(document["originator_id"]).bytes, ID_UUID
        elif kind == "text":
            raw, id_kind = str(document["originator_id"]).encode("utf-8"), ID_TEXT
        else:
            raise ProofRejected(f"unknown originator_id_kind {kind!r}")
        state = base64.b64decode(document["state_base64"], validate=True)
        return leaf_hash(entry_bytes(int(document["position"]), id_kind, raw,
                                     int(document["originator_version"]),
                                     str(document["topic"]), state))
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise ProofRejected(f"malformed entry: {error!r}") from None


def _hexes(values: Any, name: str) -> list[bytes]:
    try:
        hashes = [bytes.fromhex(v) for v in values]
    except (TypeError, ValueError):
        raise ProofRejected(f"{name} must be a list of hex hashes") from None
    if any(len(h) != 32 for h in hashes):
        raise ProofRejected(f"{name} holds a hash that is not 32 bytes")
    return hashes


class ProofService:
    """Inclusion and consistency proofs over the stored log (kept in memory, synced on use)."""

    def __init__(self, recorder: IntegrityRecorder):
        self.recorder = recorder
        self.log = LogTree(recorder)

    def _checkpoint(self, size: int) -> dict[str, Any] | None:
        text = self.recorder.checkpoint_document(size)
        return json.loads(text) if text else None

    def _default_size(self, size: int) -> int:
        newest = latest_checkpoint(self.recorder)
        return newest.tree_size if newest is not None and newest.tree_size <= size else size

    def head(self) -> dict[str, Any]:
        with self.log.lock:
            size = self.log.sync()
            newest = latest_checkpoint(self.recorder)
            return {"log_id": self.log.log_id, "tree_size": size,
                    "last_position": self.log.last_position,
                    "root_hash": self.log.tree.root(size).hex(),
                    "chain_hash": self.log.chain.hex(),
                    "latest_checkpoint": newest.to_dict() if newest else None}

    def inclusion(self, position: int, tree_size: int | None = None) -> dict[str, Any]:
        """The proof that the event at `position` is leaf i of the tree of `tree_size` entries
        (default: the newest checkpoint that covers it, else the whole log)."""
        with self.log.lock:
            size = self.log.sync()
            index = self.log.index_of(position)
            if index is None:
                raise LookupError(f"no event at position {position} in the integrity log")
            if tree_size is None:
                tree_size = self._default_size(size)
                if tree_size <= index:
                    tree_size = size
            if not index < tree_size <= size:
                raise ValueError(f"tree_size must be in {index + 1}..{size} for position "
                                 f"{position}")
            entry = self.recorder.entry(position)
            if entry is None:
                raise TamperDetected(f"the event at position {position} is missing", position)
            leaf = self.log.tree.leaf(index)
            if entry_leaf_hash(_entry_document(entry)) != leaf:
                raise TamperDetected(f"the stored event at position {position} no longer "
                                     "matches its leaf hash", position)
            return {"format": INCLUSION_FORMAT, "log_id": self.log.log_id,
                    "tree_size": tree_size, "leaf_index": index, "position": position,
                    "entry": _entry_document(entry), "leaf_hash": leaf.hex(),
                    "path": [h.hex() for h in self.log.tree.inclusion_proof(index, tree_size)],
                    "root_hash": self.log.tree.root(tree_size).hex(),
                    "checkpoint": self._checkpoint(tree_size)}

    def consistency(self, first: int, second: int | None = None) -> dict[str, Any]:
        """The proof that the tree of `second` entries (default: the newest checkpoint, else
        the whole log) extends the tree of `first` entries."""
        with self.log.lock:
            size = self.log.sync()
            if second is None:
                second = self._default_size(size)
                if second < first:
                    second = size
            if not 1 <= first <= second <= size:
                raise ValueError(f"need 1 <= first <= second <= {size}")
            return {"format": CONSISTENCY_FORMAT, "log_id": self.log.log_id,
                    "first_size": first, "first_root": self.log.tree.root(first).hex(),
                    "second_size": second, "second_root": self.log.tree.root(second).hex(),
                    "proof": [h.hex() for h in self.log.tree.consistency_proof(first, second)],
                    "first_checkpoint": self._checkpoint(first),
                    "second_checkpoint": self._checkpoint(second)}


def check_inclusion(document: Mapping[str, Any], checkpoint: Checkpoint, *,
                    trusted_keys: Iterable[Ed25519PublicKey] | None = None,
                    max_age: timedelta | None = None, now: datetime | None = None) -> int:
    """Offline: raise ProofRejected unless `document` proves its entry is in the log that
    `checkpoint` signs. Returns the entry's position."""
    try:
        check_checkpoint(checkpoint, trusted_keys=trusted_keys, max_age=max_age, now=now)
    except CheckpointError as error:
        raise ProofRejected(str(error)) from None
    if document.get("format") != INCLUSION_FORMAT:
        raise ProofRejected(f"not a {INCLUSION_FORMAT} document")
    try:
        size, index = int(document["tree_size"]), int(document["leaf_index"])
        path = _hexes(document["path"], "path")
        entry = document["entry"]
        position = int(entry["position"])
    except (KeyError, TypeError, ValueError) as error:
        raise ProofRejected(f"malformed proof: {error!r}") from None
    if document.get("log_id") != checkpoint.log_id:
        raise ProofRejected("the proof is about another log than the checkpoint's")
    if size != checkpoint.tree_size:
        raise ProofRejected(f"the proof is for a tree of {size} entries but the checkpoint "
                            f"signs {checkpoint.tree_size}: ask for a proof against this "
                            "checkpoint (or a fresher checkpoint)")
    if position != document.get("position"):
        raise ProofRejected("the entry's position differs from the proof's")
    leaf = entry_leaf_hash(entry)
    if document.get("leaf_hash") not in (None, leaf.hex()):
        raise ProofRejected("the entry does not hash to the proof's leaf_hash")
    if root_from_inclusion(leaf, index, size, path) != checkpoint.root:
        raise ProofRejected(f"forged or wrong proof: the path from leaf {index} does not lead "
                            f"to the checkpoint's root")
    return position


def check_consistency(document: Mapping[str, Any], first: Checkpoint, second: Checkpoint, *,
                      trusted_keys: Iterable[Ed25519PublicKey] | None = None) -> None:
    """Offline: raise ProofRejected unless `document` proves the log signed by `second`
    is an append-only extension of the log signed by `first`."""
    try:
        check_checkpoint(first, trusted_keys=trusted_keys)
        check_checkpoint(second, trusted_keys=trusted_keys, previous=first)
    except CheckpointError as error:
        raise ProofRejected(str(error)) from None
    if document.get("format") != CONSISTENCY_FORMAT:
        raise ProofRejected(f"not a {CONSISTENCY_FORMAT} document")
    try:
        sizes = int(document["first_size"]), int(document["second_size"])
        proof = _hexes(document["proof"], "proof")
    except (KeyError, TypeError, ValueError) as error:
        raise ProofRejected(f"malformed proof: {error!r}") from None
    if sizes != (first.tree_size, second.tree_size):
        raise ProofRejected(f"the proof is between sizes {sizes[0]} and {sizes[1]}, the "
                            f"checkpoints are {first.tree_size} and {second.tree_size}")
    if not verify_consistency(first.tree_size, first.root, second.tree_size, second.root,
                              proof):
        raise ProofRejected(f"forged or wrong proof: the log of size {second.tree_size} is not "
                            f"shown to extend the log of size {first.tree_size}")


# -- the monitor -------------------------------------------------------------------------------


class IntegrityMonitor:
    """Verifies the whole log (and, when given, the evidence files) every `interval_seconds`
    in a thread; a failed verification is logged at ERROR and shows in `status()`."""

    def __init__(self, recorder: IntegrityRecorder, *, interval_seconds: float = 3600.0,
                 trusted_keys: Iterable[Ed25519PublicKey] | None = None,
                 blob_dir: Path | None = None,
                 evidence_refs: Callable[[EntryRow], Iterable[str]] | None = None,
                 clock: Clock | None = None):
        self.recorder = recorder
        self.interval_seconds = interval_seconds
        self.trusted_keys = list(trusted_keys) if trusted_keys is not None else None
        self.blob_dir = blob_dir
        self.evidence_refs = evidence_refs
        self.clock = clock or utc_now
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {
            "state": "pending", "ok": None, "verified_size": None, "verified_position": None,
            "verified_root": None, "verified_at": None, "seconds": None, "problem": None,
            "problems": 0, "checked_at": None}

    @classmethod
    def from_env(cls, recorder: IntegrityRecorder, *, blob_dir: Path | None = None,
                 evidence_refs: Callable[[EntryRow], Iterable[str]] | None = None,
                 environ: Mapping[str, str] | None = None) -> IntegrityMonitor:
        settings = IntegritySettings.from_env(environ)
        return cls(recorder, interval_seconds=settings.check_every_seconds,
                   trusted_keys=settings.trusted_keys(), blob_dir=blob_dir,
                   evidence_refs=evidence_refs)

    def run_once(self) -> VerificationReport | None:
        checked_at = utc_text(self.clock())
        try:
            report = verify(self.recorder, trusted_keys=self.trusted_keys,
                            blob_dir=self.blob_dir, evidence_refs=self.evidence_refs)
        except Exception as error:
            log.exception("integrity: verification could not run")
            with self._lock:
                self._status.update(state="error", ok=False, checked_at=checked_at,
                                    problem=f"verification could not run: "
                                            f"{type(error).__name__}: {error}")
            return None
        with self._lock:
            self._status.update(checked_at=checked_at, seconds=round(report.seconds, 3),
                                problems=report.problem_count)
            if report.ok:
                self._status.update(state="ok", ok=True, verified_size=report.tree_size,
                                    verified_position=report.last_position,
                                    verified_root=report.root_hash, verified_at=checked_at,
                                    problem=None)
            else:
                self._status.update(state="failed", ok=False,
                                    problem=str(report.first_problem))
        if report.ok:
            log.info("integrity: verified %d entries up to position %d in %.2f s",
                     report.tree_size, report.last_position, report.seconds)
        else:
            log.error("integrity: VERIFICATION FAILED (%d problems), first at %s",
                      report.problem_count, report.first_problem)
        return report

    def status(self) -> dict[str, Any]:
        """state (pending|ok|failed|error), ok, the last verified size, position, root and UTC
        time, the time of the last check and the first problem."""
        with self._lock:
            return dict(self._status)

    def start_thread(self) -> tuple[threading.Thread, threading.Event]:
        """Verify now, then every `interval_seconds`, in a daemon thread until the event is
        set."""
        return _start_loop("parindex-integrity-monitor", lambda: self.run_once(),
                           self.interval_seconds)
