"""A content-addressed store for evidence files: bytes are named by their SHA-256 and never
deleted (withdrawing evidence only removes the link from a scorecard)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from domain.errors import InvalidInput, NotFound

CHUNK = 1 << 16


class BlobCorrupted(Exception):
    """A stored file no longer matches its SHA-256: the store was tampered with or damaged."""


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InvalidInput("sha256 must be 64 lowercase hex digits", field="sha256")
        return self.root / sha256[:2] / sha256

    def put(self, chunks: Iterable[bytes], max_size: int | None = None) -> StoredBlob:
        """Stream bytes in, hashing as they arrive; an existing identical file is kept as is."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                for chunk in chunks:
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise InvalidInput(f"the file exceeds the limit of {max_size} bytes",
                                           field="file")
                    digest.update(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            sha256 = digest.hexdigest()
            target = self.path_of(sha256)
            target.parent.mkdir(exist_ok=True)
            if target.exists():
                os.unlink(tmp_name)
            else:
                os.replace(tmp_name, target)
                os.chmod(target, 0o444)
            return StoredBlob(sha256=sha256, size=size)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def read(self, sha256: str) -> bytes:
        """The file's bytes, verified against its name."""
        path = self.path_of(sha256)
        if not path.exists():
            raise NotFound(f"no stored file {sha256}", field="sha256")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobCorrupted(f"stored file {sha256} does not match its hash")
        return data

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()
