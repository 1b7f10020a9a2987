"""Signed tree heads ("checkpoints") of the event log, and the Ed25519 keys that sign them.

A checkpoint says: "the log named `log_id` had `tree_size` entries, the last at global position
`last_position`; their RFC 6962 Merkle root is `root_hash` and the hash chain ended at
`chain_hash`; signed at `timestamp` (UTC)". It is a small JSON document an inspector keeps
outside the system; any later copy of the log must be an append-only extension of it.

`log_id` is the hex leaf hash of the log's first entry: it names one log for good (a checkpoint
from another deployment, or from a log rewritten from its start, does not match).

What is signed is this text, UTF-8, every line ending in "\\n" (easy to rebuild by hand):

    parindex-checkpoint/1
    log_id <64 hex>
    tree_size <decimal>
    last_position <decimal>
    root_hash <64 hex>
    chain_hash <64 hex>
    timestamp <YYYY-MM-DDTHH:MM:SS.ffffffZ>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "parindex-checkpoint/1"
KEY_FILE_SETTING = "PARINDEX_SIGNING_KEY_FILE"


class CheckpointError(Exception):
    """A checkpoint or key is malformed, unsigned, signed by an unexpected key, or stale."""


# -- keys --------------------------------------------------------------------------------------


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64 (how checkpoints and `.pub` files carry it)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(public_key: str) -> str:
    """A short fingerprint: the first 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key given as base64 of the 32 raw bytes, or as a PEM block."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise CheckpointError("the public key is not an Ed25519 key")
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as error:
        raise CheckpointError(f"unreadable public key: {error}") from None


def load_public_key_file(path: Path | str) -> Ed25519PublicKey:
    try:
        return parse_public_key(Path(path).read_text(encoding="ascii"))
    except OSError as error:
        raise CheckpointError(f"cannot read the public key {path}: {error}") from None


def generate_key_file(path: Path | str, *, overwrite: bool = False) -> tuple[Path, str]:
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 0600) to `path` and its public key
    (base64) to `path.pub`; return the public key's path and text."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise CheckpointError(f"{path} exists; refusing to overwrite a signing key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.chmod(path, 0o600)
    public = public_key_text(key.public_key())
    public_path = path.with_name(path.name + ".pub")
    public_path.write_text(public + "\n", encoding="ascii")
    return public_path, public


def load_signing_key(path: Path | str) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read the signing key {path}: {error}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} is not an unencrypted PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} is not an Ed25519 key")
    return key


# -- checkpoints -------------------------------------------------------------------------------


def utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise CheckpointError("checkpoint times are UTC and carry their zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CheckpointError(f"bad timestamp {text!r}") from None
    if moment.tzinfo is None:
        raise CheckpointError(f"timestamp {text!r} has no zone")
    return moment.astimezone(UTC)


def _hex32(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or \
            any(c not in "0123456789abcdef" for c in value):
        raise CheckpointError(f"{name} must be 64 lowercase hex digits")
    return value


@dataclass(frozen=True)
class Checkpoint:
    log_id: str
    tree_size: int
    last_position: int
    root_hash: str
    chain_hash: str
    timestamp: str
    key_id: str
    public_key: str
    signature: str
    format: str = FORMAT

    def signed_text(self) -> bytes:
        return signed_text(self.log_id, self.tree_size, self.last_position, self.root_hash,
                           self.chain_hash, self.timestamp)

    @property
    def time(self) -> datetime:
        return parse_utc(self.timestamp)

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.root_hash)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        return {"format": body.pop("format"), **body}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, body: Any) -> Checkpoint:
        if not isinstance(body, dict):
            raise CheckpointError("a checkpoint is a JSON object")
        if body.get("format") != FORMAT:
            raise CheckpointError(f"not a {FORMAT} document (format {body.get('format')!r})")
        try:
            checkpoint = cls(log_id=_hex32(body["log_id"], "log_id"),
                             tree_size=int(body["tree_size"]),
                             last_position=int(body["last_position"]),
                             root_hash=_hex32(body["root_hash"], "root_hash"),
                             chain_hash=_hex32(body["chain_hash"], "chain_hash"),
                             timestamp=str(body["timestamp"]), key_id=str(body["key_id"]),
                             public_key=str(body["public_key"]),
                             signature=str(body["signature"]))
        except KeyError as missing:
            raise CheckpointError(f"the checkpoint lacks {missing}") from None
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"malformed checkpoint: {error}") from None
        if checkpoint.tree_size < 1:
            raise CheckpointError("a checkpoint covers at least one entry")
        parse_utc(checkpoint.timestamp)
        return checkpoint

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise CheckpointError(f"not JSON: {error}") from None

    @classmethod
    def load(cls, path: Path | str) -> Checkpoint:
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except OSError as error:
            raise CheckpointError(f"cannot read {path}: {error}") from None

    def check_signature(self, trusted: Iterable[Ed25519PublicKey] | None = None) -> None:
        """Raise CheckpointError unless the signature is valid and, when `trusted` keys are
        given, made by one of them (otherwise the embedded key is used: integrity only)."""
        embedded = parse_public_key(self.public_key)
        if key_id(self.public_key) != self.key_id:
            raise CheckpointError("the checkpoint's key_id does not match its public key")
        keys = list(trusted) if trusted is not None else [embedded]
        if trusted is not None:
            texts = {public_key_text(k) for k in keys}
            if self.public_key not in texts:
                raise CheckpointError(f"signed by key {self.key_id}, which is not a trusted key")
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except binascii.Error:
            raise CheckpointError("the signature is not base64") from None
        try:
            embedded.verify(signature, self.signed_text())
        except InvalidSignature:
            raise CheckpointError(f"bad signature on the checkpoint of size {self.tree_size} "
                                  "(forged or altered)") from None


def signed_text(log_id: str, tree_size: int, last_position: int, root_hash: str,
                chain_hash: str, timestamp: str) -> bytes:
    return (f"{FORMAT}\nlog_id {log_id}\ntree_size {tree_size}\nlast_position {last_position}\n"
            f"root_hash {root_hash}\nchain_hash {chain_hash}\ntimestamp {timestamp}\n"
            ).encode()


def sign_checkpoint(key: Ed25519PrivateKey, *, log_id: str, tree_size: int, last_position: int,
                    root_hash: bytes, chain_hash: bytes, moment: datetime) -> Checkpoint:
    timestamp = utc_text(moment)
    public = public_key_text(key.public_key())
    text = signed_text(log_id, tree_size, last_position, root_hash.hex(), chain_hash.hex(),
                       timestamp)
    signature = base64.b64encode(key.sign(text)).decode("ascii")
    return Checkpoint(log_id=log_id, tree_size=tree_size, last_position=last_position,
                      root_hash=root_hash.hex(), chain_hash=chain_hash.hex(),
                      timestamp=timestamp, key_id=key_id(public), public_key=public,
                      signature=signature)
