"""Media types from the bytes themselves: what a file is, not what its name or the browser
says. Evidence is documents and scans; anything else is refused."""

from __future__ import annotations

import io
import zipfile

OOXML = {"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}
MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
         (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"),
         (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"),
         (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"))


def sniff(head: bytes, whole: bytes | None = None) -> str | None:
    """The media type of a file from its first bytes (and, for ZIP containers, its entries);
    None when it is not an accepted evidence format."""
    for magic, media_type in MAGIC:
        if head.startswith(magic):
            if media_type == "application/x-ole-storage":
                return "application/msword"  # legacy .doc/.xls share this container
            return media_type
    if head.startswith(b"PK\x03\x04") and whole is not None:
        try:
            names = zipfile.ZipFile(io.BytesIO(whole)).namelist()
        except zipfile.BadZipFile:
            return None
        for prefix, media_type in OOXML.items():
            if any(name.startswith(prefix) for name in names):
                return media_type
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain" if b"\x00" not in head else None
