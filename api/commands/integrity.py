"""`parindex keys|checkpoint|proof|verify`: the tamper-evident log for operators and inspectors.

- `parindex keys generate` writes the Ed25519 key that signs checkpoints (and its `.pub`);
  name it with PARINDEX_SIGNING_KEY_FILE.
- `parindex checkpoint create|export|list`: sign a tree head now, write the newest one as a
  JSON file for an inspector to keep outside the system, list them.
- `parindex proof inclusion|consistency` write RFC 6962 proofs as JSON; `parindex proof check`
  checks one offline against checkpoint files (no database needed).
- `parindex verify` recomputes every leaf from the stored events, checks the hash chain, the
  stored checkpoints and the evidence files, and with `--checkpoint FILE` proves that the log
  has only been appended to since that checkpoint. Exit status 1 and the first bad position
  or file on failure.

See docs/integrity.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from api.cli import CannotStart, open_parindex
from domain.store.checkpoints import (
    KEY_FILE_SETTING,
    Checkpoint,
    CheckpointError,
    generate_key_file,
    key_id,
    load_public_key_file,
    parse_public_key,
)
from domain.store.integrity import (
    CONSISTENCY_FORMAT,
    INCLUSION_FORMAT,
    Checkpointer,
    CheckpointRefused,
    IntegritySettings,
    ProofRejected,
    ProofService,
    TamperDetected,
    check_consistency,
    check_inclusion,
    evidence_refs_by_mapper,
    stored_checkpoints,
    verify,
)

DEFAULT_KEY_FILE = Path("var") / "keys" / "checkpoint-signing.key"


def _fail(message: str, status: int = 1) -> int:
    print(f"parindex: {message}", file=sys.stderr)
    return status


def _write(text: str, out: str | None) -> None:
    if out is None or out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")
        print(f"written to {out}", file=sys.stderr)


def _dump(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _settings() -> IntegritySettings:
    try:
        return IntegritySettings.from_env()
    except CheckpointError as error:
        raise CannotStart(str(error)) from None


# -- keys --------------------------------------------------------------------------------------


def keys_generate(args: argparse.Namespace) -> int:
    try:
        public_path, public = generate_key_file(args.out, overwrite=args.force)
    except (CheckpointError, OSError) as error:
        return _fail(str(error))
    print(f"signing key:  {args.out} (keep it secret; mode 0600)")
    print(f"public key:   {public_path}  (give it to inspectors)")
    print(f"key id:       {key_id(public)}")
    print(f"public:       {public}")
    print(f"set {KEY_FILE_SETTING}={args.out} for `parindex serve` and `parindex checkpoint`")
    return 0


# -- checkpoints -------------------------------------------------------------------------------


def _checkpointer(parindex: Any) -> Checkpointer:
    settings = _settings()
    try:
        key = settings.signing_key()
    except CheckpointError as error:
        raise CannotStart(str(error)) from None
    if key is None:
        raise CannotStart(f"{KEY_FILE_SETTING} is not set: create a key with `parindex keys "
                          "generate` and name it there")
    return Checkpointer(parindex.recorder, key, every_events=settings.checkpoint_every_events,
                        every_seconds=settings.checkpoint_every_seconds)


def checkpoint_create(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        checkpointer = _checkpointer(parindex)
        checkpoint = checkpointer.run_once(force=True)
    except (CheckpointRefused, TamperDetected) as error:
        return _fail(f"refusing to sign: {error}")
    finally:
        parindex.close()
    if checkpoint is None:
        print("nothing new to sign (the newest checkpoint covers the whole log, or it is empty)")
        return 0
    print(f"checkpoint of size {checkpoint.tree_size} (position {checkpoint.last_position}), "
          f"root {checkpoint.root_hash}, signed {checkpoint.timestamp} by {checkpoint.key_id}")
    return 0


def checkpoint_export(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        recorder = parindex.recorder
        if args.size is not None:
            text = recorder.checkpoint_document(args.size)
            if text is None:
                return _fail(f"no stored checkpoint of size {args.size}")
            checkpoint = Checkpoint.from_json(text)
        else:
            if args.fresh:
                try:
                    _checkpointer(parindex).run_once(force=True)
                except (CheckpointRefused, TamperDetected) as error:
                    return _fail(f"refusing to sign: {error}")
            found = stored_checkpoints(recorder, 1)
            if not found:
                return _fail("no checkpoint has been signed yet: run `parindex checkpoint "
                             "create` (with a signing key configured)")
            checkpoint = found[0]
    finally:
        parindex.close()
    _write(checkpoint.to_json(), args.out)
    return 0


def checkpoint_list(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        checkpoints = stored_checkpoints(parindex.recorder, args.limit)
    finally:
        parindex.close()
    for cp in checkpoints:
        print(f"size {cp.tree_size:>9}  position {cp.last_position:>9}  {cp.timestamp}  "
              f"root {cp.root_hash[:16]}…  key {cp.key_id}")
    if not checkpoints:
        print("no checkpoints")
    return 0


# -- proofs ------------------------------------------------------------------------------------


def _size_or_file(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return Checkpoint.load(value).tree_size
    except CheckpointError as error:
        raise CannotStart(f"{value}: {error}") from None


def proof_inclusion(args: argparse.Namespace) -> int:
    size = None if args.size is None else _size_or_file(args.size)
    parindex = open_parindex()
    try:
        document = ProofService(parindex.recorder).inclusion(args.position, size)
    except (LookupError, ValueError, TamperDetected) as error:
        return _fail(str(error))
    finally:
        parindex.close()
    _write(_dump(document), args.out)
    return 0


def proof_consistency(args: argparse.Namespace) -> int:
    first = _size_or_file(args.first)
    second = None if args.second is None else _size_or_file(args.second)
    parindex = open_parindex()
    try:
        document = ProofService(parindex.recorder).consistency(first, second)
    except (ValueError, TamperDetected) as error:
        return _fail(str(error))
    finally:
        parindex.close()
    _write(_dump(document), args.out)
    return 0


def _trusted(public_keys: list[str] | None) -> list[Any] | None:
    if not public_keys:
        return None
    try:
        return [load_public_key_file(path) for path in public_keys]
    except CheckpointError as error:
        raise CannotStart(str(error)) from None


def proof_check(args: argparse.Namespace) -> int:
    """Offline: no store is opened."""
    try:
        document = json.loads(Path(args.proof).read_text(encoding="utf-8"))
        checkpoints = [Checkpoint.load(path) for path in args.checkpoint]
    except (OSError, json.JSONDecodeError, CheckpointError) as error:
        return _fail(f"cannot read: {error}", 2)
    trusted = _trusted(args.public_key)
    max_age = None if args.max_age is None else timedelta(seconds=args.max_age)
    kind = document.get("format") if isinstance(document, dict) else None
    try:
        if kind == INCLUSION_FORMAT:
            if len(checkpoints) != 1:
                return _fail("an inclusion proof is checked against one --checkpoint", 2)
            position = check_inclusion(document, checkpoints[0], trusted_keys=trusted,
                                       max_age=max_age)
            print(f"OK: the event at position {position} is entry {document['leaf_index']} of "
                  f"the log of {checkpoints[0].tree_size} entries signed "
                  f"{checkpoints[0].timestamp} by key {checkpoints[0].key_id}")
        elif kind == CONSISTENCY_FORMAT:
            if len(checkpoints) != 2:
                return _fail("a consistency proof is checked against two --checkpoint files, "
                             "the older first", 2)
            check_consistency(document, checkpoints[0], checkpoints[1], trusted_keys=trusted)
            print(f"OK: the log of {checkpoints[1].tree_size} entries (signed "
                  f"{checkpoints[1].timestamp}) is an append-only extension of the log of "
                  f"{checkpoints[0].tree_size} entries (signed {checkpoints[0].timestamp})")
        else:
            return _fail(f"{args.proof} is neither {INCLUSION_FORMAT} nor {CONSISTENCY_FORMAT}",
                         2)
    except ProofRejected as error:
        return _fail(f"proof REJECTED: {error}")
    if trusted is None:
        print("note: no --public-key given; signatures were checked against the key embedded "
              "in the checkpoint (integrity, not authenticity)")
    return 0


# -- verify ------------------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    from domain.store.config import blob_dir

    try:
        given = [(f"checkpoint {path}", Checkpoint.load(path)) for path in args.checkpoint]
        trusted = _trusted(args.public_key)
        if trusted is None and given:
            # the inspector kept these files outside the system: trust the key that signed them
            trusted = [parse_public_key(cp.public_key) for _, cp in given]
        if trusted is None:
            trusted = _settings().trusted_keys()
    except CheckpointError as error:
        return _fail(str(error), 2)
    max_age = None if args.max_age is None else timedelta(seconds=args.max_age)
    blobs = None if args.no_evidence else Path(args.blob_dir) if args.blob_dir else blob_dir()
    parindex = open_parindex()
    try:
        report = verify(parindex.recorder, checkpoints=given, trusted_keys=trusted,
                        max_age=max_age, blob_dir=blobs,
                        evidence_refs=None if blobs is None
                        else evidence_refs_by_mapper(parindex.mapper))
    finally:
        parindex.close()
    if args.json:
        print(_dump({"ok": report.ok, "tree_size": report.tree_size,
                     "last_position": report.last_position, "root_hash": report.root_hash,
                     "chain_hash": report.chain_hash, "log_id": report.log_id,
                     "checkpoints_checked": report.checkpoints_checked,
                     "blobs_checked": report.blobs_checked, "seconds": report.seconds,
                     "problem_count": report.problem_count,
                     "problems": [{"where": p.where, "message": p.message,
                                   "position": p.position, "file": p.file,
                                   "checkpoint": p.checkpoint} for p in report.problems],
                     "notes": report.notes}), end="")
    else:
        print(f"parindex verify: {report.summary()}")
        print(f"  {report.events:,} events in {report.seconds:.2f} s "
              f"({report.events_per_second:,.0f} events/s)")
        for problem in report.problems:
            print(f"  - {problem}")
        if report.problem_count > len(report.problems):
            print(f"  … and {report.problem_count - len(report.problems)} more")
        for note in report.notes:
            print(f"  note: {note}")
    if not report.ok:
        print(f"parindex verify: FAILED at {report.first_problem}", file=sys.stderr)
        return 1
    return 0


def grants(args: argparse.Namespace) -> int:
    """Print the PostgreSQL GRANT/REVOKE script for the application's role."""
    parindex = open_parindex()
    try:
        recorder = parindex.recorder
        if not hasattr(recorder, "grants_sql"):
            return _fail("the store is SQLite: protect the database file with file permissions "
                         "instead (see docs/integrity.md)")
        snapshots = getattr(parindex.snapshots, "recorder", None) if parindex.snapshots else None
        print(recorder.grants_sql(args.role, getattr(snapshots, "events_table_name", None)),
              end="")
    finally:
        parindex.close()
    return 0


# -- registration ------------------------------------------------------------------------------


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="the Ed25519 key that signs checkpoints")
    keys_actions = keys.add_subparsers(dest="keys_command", required=True)
    generate = keys_actions.add_parser("generate", help="write a new signing key and its .pub")
    generate.add_argument("--out", default=str(DEFAULT_KEY_FILE),
                          help=f"the private key file (default {DEFAULT_KEY_FILE})")
    generate.add_argument("--force", action="store_true", help="overwrite an existing key")
    generate.set_defaults(run=keys_generate)

    checkpoint = sub.add_parser("checkpoint", help="signed tree heads of the event log")
    actions = checkpoint.add_subparsers(dest="checkpoint_command", required=True)
    actions.add_parser("create", help="sign a checkpoint of the whole log now").set_defaults(
        run=checkpoint_create)
    export = actions.add_parser("export", help="write the newest checkpoint as JSON (for an "
                                "inspector to keep outside the system)")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.add_argument("--size", type=int, help="the stored checkpoint of this size instead")
    export.add_argument("--fresh", action="store_true",
                        help="sign a checkpoint of the whole log first")
    export.set_defaults(run=checkpoint_export)
    listing = actions.add_parser("list", help="stored checkpoints, newest first")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(run=checkpoint_list)

    proof = sub.add_parser("proof", help="RFC 6962 inclusion and consistency proofs")
    proof_actions = proof.add_subparsers(dest="proof_command", required=True)
    inclusion = proof_actions.add_parser("inclusion", help="prove an event is in the log")
    inclusion.add_argument("position", type=int, help="the event's global position")
    inclusion.add_argument("--size", help="tree size or checkpoint file to prove against "
                           "(default: the newest checkpoint covering it)")
    inclusion.add_argument("--out", help="file to write (default: standard output)")
    inclusion.set_defaults(run=proof_inclusion)
    consistency = proof_actions.add_parser(
        "consistency", help="prove a later log extends an earlier one")
    consistency.add_argument("first", help="the earlier tree size or checkpoint file")
    consistency.add_argument("second", nargs="?", help="the later tree size or checkpoint file "
                             "(default: the newest checkpoint)")
    consistency.add_argument("--out", help="file to write (default: standard output)")
    consistency.set_defaults(run=proof_consistency)
    check = proof_actions.add_parser("check", help="check a proof offline against checkpoint "
                                     "files (no database)")
    check.add_argument("proof", help="the proof JSON file")
    check.add_argument("--checkpoint", action="append", required=True,
                       help="checkpoint file: one for an inclusion proof, two (older first) "
                       "for a consistency proof")
    check.add_argument("--public-key", action="append",
                       help="trusted public key file (repeatable)")
    check.add_argument("--max-age", type=float,
                       help="reject a checkpoint signed more than this many seconds ago")
    check.set_defaults(run=proof_check)

    grants_cmd = sub.add_parser("grants", help="print the PostgreSQL GRANT/REVOKE script that "
                                "makes the event tables append-only for the app's role")
    grants_cmd.add_argument("--role", required=True, help="the role parindex runs as")
    grants_cmd.set_defaults(run=grants)

    verify_cmd = sub.add_parser("verify", help="verify the whole log, checkpoints and evidence")
    verify_cmd.add_argument("--checkpoint", action="append", default=[],
                            help="a checkpoint file you kept: the log must extend it "
                            "(repeatable)")
    verify_cmd.add_argument("--public-key", action="append",
                            help="trusted public key file (repeatable; default: the key of the "
                            "given checkpoints, else the configured signing key)")
    verify_cmd.add_argument("--max-age", type=float,
                            help="fail if the newest checkpoint is older than this many seconds "
                            "while newer events exist")
    verify_cmd.add_argument("--blob-dir", help="evidence directory (default PARINDEX_BLOB_DIR "
                            "or ./var/blobs)")
    verify_cmd.add_argument("--no-evidence", action="store_true",
                            help="skip the evidence files")
    verify_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    verify_cmd.set_defaults(run=run_verify)
