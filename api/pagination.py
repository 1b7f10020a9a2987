"""Opaque cursors: clients pass back `next_cursor` as it is; it encodes a global position."""

from __future__ import annotations

import base64
import binascii

from domain.errors import InvalidInput


def encode_cursor(position: int | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"p:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = raw.split(":", 1)
        if kind != "p" or not value.isdigit() or int(value) >= 2**63:
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this API gave out", field="cursor") from None
