"""Reading survey files row by row, never whole: CSV (UTF-8 with or without BOM, or, when asked,
Windows-1258) and XLSX (one sheet, values only).

`inspect` checks what can be checked before parsing — size, emptiness, format, encoding, that
the bytes still match their SHA-256 — in one streamed pass. XLSX sheets are parsed with the
standard library's expat as the XML streams out of the archive (values only: a cell holding a
formula is a fault, and dates arrive as Excel's serial numbers). `TableReader` then yields
`(row_number, cells)` with row numbers as a spreadsheet shows them (the header is row 1) and
cells as text; faults found while reading (formulas, malformed CSV) collect in `faults`.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError, ParserCreate

from domain.survey.errors import MAX_LISTED, SurveyRejected, fault

CHUNK = 1 << 20
ENCODINGS = ("utf-8", "windows-1258")
# Bytes that are Vietnamese letters or combining tone marks in Windows-1258 (Ă ă Â â Ê ê Ô ô
# Ơ ơ Ư ư Đ đ and the five tone marks) — what a non-UTF-8 Vietnamese CSV is full of.
CP1258_VIETNAMESE = frozenset(b"\xc3\xe3\xc2\xe2\xca\xea\xd4\xf4\xd5\xf5\xdd\xfd\xd0\xf0"
                              b"\xcc\xec\xd2\xde\xf2")
XLSX_EXPANSION_LIMIT = 40  # an XLSX may unpack to at most 40 × the upload limit (zip bombs)

Progress = Callable[[float, int], None]  # (fraction done or -1 if unknown, rows read)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str
    size: int
    format: str  # "csv" or "xlsx"
    encoding: str  # "utf-8", "utf-8-sig", "windows-1258"; "xlsx" for workbooks


def inspect(path: Path, sha256: str, size: int, max_bytes: int,
            encoding: str = "utf-8") -> SourceFile:
    """Check size, format and encoding, and that the bytes match `sha256`; refuse otherwise."""
    if encoding not in ENCODINGS:
        raise SurveyRejected.one("encoding", f"encoding must be one of {list(ENCODINGS)}",
                                 column=None)
    if size == 0:
        raise SurveyRejected.one("empty-file", "the file is empty")
    if size > max_bytes:
        raise SurveyRejected.one("file-too-large", f"the file has {size:,} bytes; the limit "
                                 f"is {max_bytes:,}")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"PK\x03\x04"):
        _verify(path, sha256)
        _check_zip(path, max_bytes)
        return SourceFile(path, sha256, size, "xlsx", "xlsx")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SurveyRejected.one("legacy-xls", "this is an old Excel 97–2003 (.xls) workbook; "
                                 "save it as .xlsx or as CSV UTF-8")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SurveyRejected.one("encoding", "the file is UTF-16 (Excel's \"Unicode text\"); "
                                 "save it as \"CSV UTF-8\"")
    bom = head.startswith(codecs.BOM_UTF8)
    _check_text(path, sha256, encoding, bom)
    if encoding == "windows-1258":
        return SourceFile(path, sha256, size, "csv", "windows-1258")
    return SourceFile(path, sha256, size, "csv", "utf-8-sig" if bom else "utf-8")


def _verify(path: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise SurveyRejected.one("file-corrupted", f"the stored file no longer matches its "
                                 f"SHA-256 {sha256}")


def _check_zip(path: Path, max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise SurveyRejected.one("unreadable-xlsx", "the file starts like a ZIP/XLSX but is "
                                 "damaged or truncated") from None
    if "xl/workbook.xml" not in names:
        raise SurveyRejected.one("unreadable-xlsx", "the file is a ZIP archive, not an XLSX "
                                 "workbook")
    if expanded > XLSX_EXPANSION_LIMIT * max_bytes:
        raise SurveyRejected.one("file-too-large", f"the workbook unpacks to {expanded:,} "
                                 "bytes; it is refused as too large")


def _check_text(path: Path, sha256: str, encoding: str, bom: bool) -> None:
    """One pass: SHA-256, NUL bytes, and UTF-8 validity with the line of the first bad byte."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    bad: tuple[int, int] | None = None  # (line, byte)
    has_non_ascii = False
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            if b"\x00" in chunk:
                raise SurveyRejected.one("encoding", "the file holds NUL bytes: it is binary "
                                         "or UTF-16, not a CSV text file; save it as "
                                         "\"CSV UTF-8\"")
            if bad is None:
                if not has_non_ascii and not chunk.isascii():
                    has_non_ascii = True
                pending = len(decoder.getstate()[0])
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    position = min(len(chunk) - 1, max(0, error.start - pending))
                    bad = (line + chunk.count(b"\n", 0, position), chunk[position])
            line += chunk.count(b"\n")
    if bad is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            bad = (line, 0)
    if digest.hexdigest() != sha256:
        raise SurveyRejected.one("file-corrupted", f"the stored file no longer matches its "
                                 f"SHA-256 {sha256}")
    if encoding == "windows-1258":
        if bom or (bad is None and has_non_ascii):
            raise SurveyRejected.one("encoding", "the file is valid UTF-8, not Windows-1258: "
                                     "import it with encoding utf-8")
        return
    if bad is not None:
        bad_line, byte = bad
        if byte in CP1258_VIETNAMESE:
            guess = ("it looks like Windows-1258 (Vietnamese ANSI, what Excel's plain \"CSV\" "
                     "writes on Vietnamese Windows)")
        else:
            guess = "it is in some 8-bit encoding"
        raise SurveyRejected([fault(
            "encoding", f"the file is not UTF-8 (first invalid byte 0x{byte:02X} on line "
            f"{bad_line}); {guess}. Save it as \"CSV UTF-8\", or import it again with encoding "
            "windows-1258 if that is what it is", row=None, line=bad_line)])


class TableReader:
    """Rows of a checked file: `(row_number, cells)`, cells as text ("" for empty)."""

    def __init__(self, source: SourceFile, progress: Progress | None = None):
        self.source = source
        self.progress = progress
        self.faults: list[dict[str, Any]] = []
        self.fault_count = 0

    def add_fault(self, item: dict[str, Any]) -> None:
        self.fault_count += 1
        if len(self.faults) < MAX_LISTED:
            self.faults.append(item)

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        if self.source.format == "xlsx":
            return self._xlsx()
        return self._csv()

    # -- CSV ----------------------------------------------------------------------------------

    def _csv(self) -> Iterator[tuple[int, list[str]]]:
        encoding = "cp1258" if self.source.encoding == "windows-1258" else self.source.encoding
        size = max(1, self.source.size)
        with open(self.source.path, encoding=encoding, newline="") as text:
            delimiter = _delimiter(text.readline())
            text.seek(0)
            reader = csv.reader(text, delimiter=delimiter)
            number = 0
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as error:
                    number += 1
                    self.add_fault(fault("malformed-csv", f"malformed CSV: {error}",
                                         row=number, line=reader.line_num))
                    continue
                number += 1
                if self.progress is not None and number % 8192 == 0:
                    self.progress(text.buffer.tell() / size, number)
                yield number, cells
        if self.progress is not None:
            self.progress(1.0, number)

    # -- XLSX ---------------------------------------------------------------------------------

    def _xlsx(self) -> Iterator[tuple[int, list[str]]]:
        """The only sheet's rows, parsed as the XML streams out of the archive (expat: several
        times faster than a cell-object reader, and the sheet is never held whole)."""
        try:
            archive = zipfile.ZipFile(self.source.path)
        except (zipfile.BadZipFile, OSError) as error:
            raise SurveyRejected.one("unreadable-xlsx", f"the workbook cannot be read: "
                                     f"{error}") from None
        with archive:
            sheet_path = _only_sheet(archive)
            strings = _shared_strings(archive)
            total = archive.getinfo(sheet_path).file_size or 1
            parser = _SheetParser(strings, self.add_fault)
            try:
                with archive.open(sheet_path) as stream:
                    done = 0
                    for chunk in iter(lambda: stream.read(CHUNK), b""):
                        done += len(chunk)
                        parser.feed(chunk)
                        if parser.rows:
                            rows, parser.rows = parser.rows, []
                            yield from rows
                            if self.progress is not None:
                                self.progress(done / total, rows[-1][0])
                    parser.feed(b"", final=True)
            except (ExpatError, zipfile.BadZipFile, EOFError, OSError) as error:
                raise SurveyRejected.one("unreadable-xlsx", f"the sheet cannot be read: "
                                         f"{error}") from None
            yield from parser.rows
            if self.progress is not None:
                self.progress(1.0, parser.row)


REL_NS = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "http://purl.oclc.org/ooxml/officeDocument/relationships")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(archive.read(name))
    except (KeyError, ElementTree.ParseError) as error:
        raise SurveyRejected.one("unreadable-xlsx", f"the workbook's {name} is missing or "
                                 f"damaged: {error}") from None


def _only_sheet(archive: zipfile.ZipFile) -> str:
    """The archive path of the workbook's one sheet; several sheets are refused."""
    workbook = _xml(archive, "xl/workbook.xml")
    sheets = [e for e in workbook.iter() if _local(e.tag) == "sheet"]
    if len(sheets) != 1:
        names = ", ".join(str(e.get("name")) for e in sheets)
        raise SurveyRejected.one("several-sheets", f"the workbook has {len(sheets)} sheets "
                                 f"({names}); keep only the sheet with the responses (one row "
                                 "per respondent or per unit and indicator)")
    relation = next((v for k, v in sheets[0].attrib.items()
                     if _local(k) == "id" and k.startswith("{") and k[1:].split("}")[0]
                     in REL_NS), None)
    targets = {e.get("Id"): e.get("Target", "")
               for e in _xml(archive, "xl/_rels/workbook.xml.rels").iter()
               if _local(e.tag) == "Relationship"}
    target = targets.get(relation)
    if not target:
        raise SurveyRejected.one("unreadable-xlsx", "the workbook names no worksheet file")
    path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    path = "/".join(part for part in path.split("/") if part not in ("", "."))
    if path not in archive.namelist():
        raise SurveyRejected.one("unreadable-xlsx", f"the worksheet {path} is missing")
    return path


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    """The shared-strings table (Excel keeps every distinct text once; loaded whole)."""
    name = next((n for n in archive.namelist() if n.lower() == "xl/sharedstrings.xml"), None)
    if name is None:
        return []
    strings: list[str] = []
    parts: list[str] = []
    skip = 0
    try:
        with archive.open(name) as stream:
            for event, element in ElementTree.iterparse(stream, events=("start", "end")):
                tag = _local(element.tag)
                if event == "start":
                    if tag == "rPh":  # phonetic guide, not part of the text
                        skip += 1
                    continue
                if tag == "t" and not skip:
                    parts.append(element.text or "")
                elif tag == "rPh":
                    skip -= 1
                elif tag == "si":
                    strings.append("".join(parts))
                    parts = []
                    element.clear()
    except ElementTree.ParseError as error:
        raise SurveyRejected.one("unreadable-xlsx", f"the shared strings are damaged: "
                                 f"{error}") from None
    return strings


def _column(reference: str) -> int:
    """0-based column of a cell reference such as "AB12"."""
    index = 0
    for char in reference:
        if "A" <= char <= "Z":
            index = index * 26 + ord(char) - 64
        else:
            break
    return index - 1


class _SheetParser:
    """Push-parses sheet XML; completed rows collect in `rows` as (row number, cells).

    Namespace processing is off (cheaper): a prefixed tag such as "x:c" is reduced to its
    local name once and cached."""

    DIGITS = "0123456789"

    def __init__(self, strings: list[str], report: Callable[[dict[str, Any]], None]):
        self.strings = strings
        self.report = report
        self.rows: list[tuple[int, list[str]]] = []
        self.row = 0
        self.cells: list[str] = []
        self.cell_ref = ""
        self.cell_type = ""
        self.text = ""
        self.capture = False
        self.formula = False
        self.in_phonetic = False
        self.names: dict[str, str] = {}
        self.columns: dict[str, int] = {}
        self.parser = ParserCreate()
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._chars

    def feed(self, data: bytes, final: bool = False) -> None:
        self.parser.Parse(data, final)

    def _name(self, tag: str) -> str:
        name = self.names[tag] = tag.rpartition(":")[2]
        return name

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        name = self.names.get(tag) or self._name(tag)
        if name == "c":
            self.cell_ref = attrs.get("r", "")
            self.cell_type = attrs.get("t", "n")
            self.text = ""
            self.formula = False
        elif name == "v" or name == "t":
            self.capture = not self.in_phonetic
        elif name == "row":
            reference = attrs.get("r")
            self.row = int(reference) if reference and reference.isdigit() else self.row + 1
            self.cells = []
        elif name == "f":
            self.formula = True
        elif name == "rPh":
            self.in_phonetic = True

    def _chars(self, data: str) -> None:
        if self.capture:
            self.text += data

    def _end(self, tag: str) -> None:
        name = self.names.get(tag) or self._name(tag)
        if name == "c":
            cells = self.cells
            reference = self.cell_ref
            if reference:
                letters = reference.rstrip(self.DIGITS)
                column = self.columns.get(letters)
                if column is None:
                    column = self.columns[letters] = _column(letters)
            else:
                letters, column = "", len(cells)
            if column > len(cells):
                cells.extend([""] * (column - len(cells)))
            if self.formula:
                letters = letters or f"#{column + 1}"
                self.report(fault("formula", f"cell {letters}{self.row} holds a formula; "
                                  "paste values only", row=self.row, column=letters))
                value = ""
            elif self.cell_type == "n" and (not self.text or self.text.isdigit()):
                value = self.text
            else:
                value = self._value(self.text)
            if column < len(cells):
                cells[column] = value
            else:
                cells.append(value)
        elif name == "v" or name == "t":
            self.capture = False
        elif name == "row":
            self.rows.append((self.row, self.cells))
        elif name == "rPh":
            self.in_phonetic = False

    def _value(self, text: str) -> str:
        kind = self.cell_type
        if kind == "s":
            try:
                return self.strings[int(text)]
            except (ValueError, IndexError):
                return ""
        if kind in ("inlineStr", "str", "e"):
            return text
        if kind == "b":
            return "TRUE" if text.strip() == "1" else "FALSE"
        if not text or text.isdigit():
            return text
        try:
            number = float(text)
        except ValueError:
            return text
        return str(int(number)) if number.is_integer() else repr(number)


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
