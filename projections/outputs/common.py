"""What every output shares: the font, NFC text, number parsing and a digest of the data."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any


@cache
def font_dir() -> Path:
    """matplotlib's bundled TrueType fonts (DejaVu Sans covers Vietnamese)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_file(bold: bool = False) -> Path:
    path = font_dir() / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if not path.is_file():  # a broken matplotlib install: say so rather than draw boxes
        raise FileNotFoundError(f"the font {path} that outputs draw Vietnamese with is missing")
    return path


def nfc(value: Any) -> str:
    """Text for display, Unicode NFC ("Hòa" as precomposed letters, as Vietnamese expects)."""
    return "" if value is None else unicodedata.normalize("NFC", str(value))


def number(value: Any) -> Decimal | None:
    """A view's decimal text as a Decimal (None stays None)."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def display(value: Any, places: int = 2) -> str:
    """Two decimals, half up, for people (rankings keep the unrounded value)."""
    parsed = number(value)
    if parsed is None:
        return "—"
    return f"{parsed.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):.{places}f}"


def signed(value: Any, places: int = 2) -> str:
    parsed = number(value)
    if parsed is None:
        return "—"
    text = display(parsed, places)
    return text if parsed < 0 else f"+{text}"


def canonical_json(data: Any) -> bytes:
    """The bytes a digest is taken of: sorted keys, no spaces, UTF-8, NFC text."""
    return json.dumps(_nfc_tree(data), ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"), default=str).encode("utf-8")


def digest(data: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of `data`."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _nfc_tree(data: Any) -> Any:
    if isinstance(data, str):
        return unicodedata.normalize("NFC", data)
    if isinstance(data, dict):
        return {_nfc_tree(k): _nfc_tree(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_nfc_tree(v) for v in data]
    return data


def slug(text: str) -> str:
    """An ASCII file-name part: "Sở Tài chính" → "so-tai-chinh"."""
    plain = unicodedata.normalize("NFKD", nfc(text).replace("Đ", "D").replace("đ", "d"))
    plain = plain.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-") or "x"
