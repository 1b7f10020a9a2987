"""`parindex survey import|show|rows|decide|mapping`: survey imports from the command line.

    parindex survey mapping define mapping.json
    parindex survey import answers.csv --cycle "Khánh Hòa/2025" --mapping SO-SIPAS --dry-run
    parindex survey import answers.csv --cycle "Khánh Hòa/2025" --mapping SO-SIPAS
    parindex survey decide IMPORT_ID --unit X-DAILANH --apply-anyway --reason "…"

The operator acts as the secretariat (`--by` names them; default cli:<login>): whoever can run
this command can reach the store anyway. Files go to the blob store (PARINDEX_BLOB_DIR); the
size limit is PARINDEX_SURVEY_MAX_BYTES (default 100 MB). A progress bar is drawn on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import unicodedata
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from api.cli import open_parindex
from domain.actors import Actor, Role
from domain.cycle.model import cycle_id
from domain.errors import DomainError
from domain.store.blobs import BlobStore
from domain.store.config import blob_dir
from domain.survey.errors import SurveyRejected
from domain.survey.service import DEFAULT_MAX_BYTES, SurveyService

CHUNK = 1 << 20
SHOWN_ERRORS = 50


class ProgressBar:
    """`reading  [#######.............]  35%  70,000 rows  91,000 rows/s` on stderr."""

    WIDTH = 28

    def __init__(self, stream: TextIO | None = None, interval: float = 0.1):
        self.stream = stream or sys.stderr
        self.interval = interval
        self.live = self.stream.isatty()
        self.stage: str | None = None
        self.started = self.last = 0.0
        self.rows = 0
        self.fraction = 0.0

    def __call__(self, stage: str, fraction: float, rows: int) -> None:
        now = time.monotonic()
        if stage != self.stage:
            self._end()
            self.stage, self.started, self.last = stage, now, 0.0
        if not self.live or (now - self.last < self.interval and fraction < 1.0):
            self.rows, self.fraction = rows, fraction
            return
        self.last = now
        self.rows, self.fraction = rows, fraction
        self.stream.write("\r" + self._line(now))
        self.stream.flush()

    def _line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        if self.fraction >= 0:
            done = int(self.WIDTH * min(1.0, self.fraction))
            bar = f"[{'#' * done}{'.' * (self.WIDTH - done)}] {self.fraction:4.0%}"
        else:
            bar = "[" + "working".center(self.WIDTH, ".") + "]     "
        unit = "bytes" if self.stage == "storing" else "rows"
        return (f"{self.stage:<10} {bar}  {self.rows:>11,} {unit:<5} "
                f"{self.rows / elapsed:>11,.0f} {unit}/s")

    def _end(self) -> None:
        if self.stage is None:
            return
        line = self._line(time.monotonic())
        self.stream.write(("\r" + line + "\n") if self.live else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        self._end()
        self.stage = None


def _operator(args: argparse.Namespace) -> Actor:
    return Actor(args.by or f"cli:{getpass.getuser()}", Role.SECRETARIAT)


def _cycle(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        pass
    province, _, year = text.rpartition("/")
    if not province or not year.isdigit():
        raise SystemExit(f"parindex: --cycle takes a cycle id or PROVINCE/YEAR, not {text!r}")
    return cycle_id(unicodedata.normalize("NFC", province).strip(), int(year))


def _service(parindex: Any) -> SurveyService:
    max_bytes = int(os.environ.get("PARINDEX_SURVEY_MAX_BYTES", str(DEFAULT_MAX_BYTES)))
    return SurveyService(parindex, BlobStore(blob_dir()), max_bytes)


def _refused(error: DomainError) -> int:
    if isinstance(error, SurveyRejected):
        print(f"parindex: the file was refused ({error.error_count} fault"
              f"{'s' if error.error_count != 1 else ''}); nothing was imported:",
              file=sys.stderr)
        for item in error.errors[:SHOWN_ERRORS]:
            where = " ".join(part for part in (
                f"row {item['row']}" if item.get("row") is not None else "",
                f"line {item['line']}" if item.get("line") is not None else "",
                f"column {item['column']}" if item.get("column") else "") if part)
            print(f"  {where or 'file'}: [{item['code']}] {item['message']}", file=sys.stderr)
        if error.error_count > SHOWN_ERRORS:
            print(f"  … and {error.error_count - SHOWN_ERRORS} more (--json lists up to 1000)",
                  file=sys.stderr)
        return 1
    where = ", ".join(f"{k} {v}" for k, v in (("item", error.item), ("field", error.field)) if v)
    print(f"parindex: {error.rule}: {error.message}{f' ({where})' if where else ''}",
          file=sys.stderr)
    return 1


def _print_report(report: dict[str, Any]) -> None:
    rows = report["rows"]
    print(f"status:    {report['status']}")
    print(f"import id: {report['import_id']}")
    print(f"file:      {report['file']['name']} ({report['file']['format']}, "
          f"{report['file']['encoding']}, {report['file']['size']:,} bytes) sha256 "
          f"{report['file']['sha256']}")
    print(f"mapping:   {report['mapping']['code']} v{report['mapping']['version']} "
          f"({report['instrument']}, {report['form']})")
    print(f"rows:      {rows['read']:,} read, {rows['used']:,} used, {rows['rejected']:,} set "
          "aside")
    for row in report["rejected_rows"][:10]:
        print(f"           row {row['row']}: {row['reason']}")
    if report.get("supersedes"):
        print(f"supersedes: {report['supersedes']} ({len(report['withheld'])} points withdrawn)")
    print(f"{'unit':<16}{'item':<9}{'n':>7}{'index':>9}{'points':>9}  status")
    for result in report["results"]:
        print(f"{result['unit_code']:<16}{result['item_code']:<9}{result['n']:>7}"
              f"{result['index'] or '—':>9}{result['points'] or '—':>9}  {result['status']}")
    if report["insufficient_sample"]:
        print(f"{len(report['insufficient_sample'])} result(s) below the minimum sample wait "
              "for `parindex survey decide`")
    if report.get("position") is not None:
        print(f"position:  {report['position']}")


def import_(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"parindex: no file {path}", file=sys.stderr)
        return 2
    parindex = open_parindex()
    bar = ProgressBar()
    try:
        service = _service(parindex)
        size = path.stat().st_size

        def chunks() -> Any:
            done = 0
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    done += len(chunk)
                    bar("storing", done / size if size else 1.0, done)
                    yield chunk

        try:
            blob = service.store(chunks())
            report = service.import_file(_operator(args), _cycle(args.cycle), args.mapping, blob,
                                         path.name, form=args.form, encoding=args.encoding,
                                         dry_run=args.dry_run, progress=bar)
        except DomainError as error:
            bar.close()
            if args.json and isinstance(error, SurveyRejected):
                print(json.dumps({"status": "rejected", **error.report()}, ensure_ascii=False,
                                 indent=2))
            return _refused(error)
        bar.close()
    finally:
        parindex.close()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    return 0


def show(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        report = _service(parindex).report(args.import_id)
    except DomainError as error:
        return _refused(error)
    finally:
        parindex.close()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def rows(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        trace = _service(parindex).trace(args.import_id, args.unit, args.limit)
    except DomainError as error:
        return _refused(error)
    finally:
        parindex.close()
    print(json.dumps(trace, ensure_ascii=False, indent=2))
    return 0


def decide(args: argparse.Namespace) -> int:
    decision = "apply_anyway" if args.apply_anyway else "set_points"
    parindex = open_parindex()
    try:
        result = _service(parindex).decide(_operator(args), args.import_id, args.unit, args.item,
                                           decision, args.reason, args.set_points)
    except DomainError as error:
        return _refused(error)
    finally:
        parindex.close()
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _document(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"parindex: cannot read the mapping {path}: {error}") from None


def mapping_define(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        result = _service(parindex).define_mapping(_operator(args), _document(args.file))
    except DomainError as error:
        return _refused(error)
    finally:
        parindex.close()
    print(f"mapping {result.code} v{result.version} defined (id {result.mapping_id})")
    return 0


def mapping_revise(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        result = _service(parindex).revise_mapping(_operator(args), args.code,
                                                   _document(args.file), args.reason)
    except DomainError as error:
        return _refused(error)
    finally:
        parindex.close()
    changed = "now at" if result.position is not None else "unchanged at"
    print(f"mapping {result.code} {changed} v{result.version}")
    return 0


def mapping_show(args: argparse.Namespace) -> int:
    parindex = open_parindex()
    try:
        mapping = _service(parindex).mapping(args.code)
    except DomainError as error:
        return _refused(error)
    finally:
        parindex.close()
    print(json.dumps({"code": mapping.code, "version": mapping.mapping_version,
                      "document": mapping.document}, ensure_ascii=False, indent=2))
    return 0


def register(sub: Any) -> None:
    survey = sub.add_parser("survey", help="import SIPAS and civil-servant survey files")
    actions = survey.add_subparsers(dest="survey_command", required=True)

    def with_by(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--by", help="the secretariat officer recorded as the actor "
                            "(default cli:<login>)")
        return parser

    run = with_by(actions.add_parser("import", help="import (or --dry-run) a CSV/XLSX file"))
    run.add_argument("file")
    run.add_argument("--cycle", required=True, help="cycle id, or PROVINCE/YEAR")
    run.add_argument("--mapping", required=True, help="mapping code")
    run.add_argument("--dry-run", action="store_true",
                     help="show what the import would do; write no event")
    run.add_argument("--form", choices=["responses", "aggregates"],
                     help="default: detected from the header")
    run.add_argument("--encoding", choices=["utf-8", "windows-1258"], default="utf-8",
                     help="CSV encoding (UTF-8 with or without BOM by default)")
    run.add_argument("--json", action="store_true", help="print the whole report as JSON")
    run.set_defaults(run=import_)

    show_cmd = actions.add_parser("show", help="an import's report (JSON)")
    show_cmd.add_argument("import_id", type=UUID)
    show_cmd.set_defaults(run=show)

    rows_cmd = actions.add_parser("rows", help="the file rows behind a unit's result (JSON)")
    rows_cmd.add_argument("import_id", type=UUID)
    rows_cmd.add_argument("--unit", required=True)
    rows_cmd.add_argument("--limit", type=int, default=1000)
    rows_cmd.set_defaults(run=rows)

    decide_cmd = with_by(actions.add_parser("decide", help="decide on a sample below the "
                                            "minimum"))
    decide_cmd.add_argument("import_id", type=UUID)
    decide_cmd.add_argument("--unit", required=True)
    decide_cmd.add_argument("--item", help="default: every pending item of the unit "
                            "(--apply-anyway only)")
    choice = decide_cmd.add_mutually_exclusive_group(required=True)
    choice.add_argument("--apply-anyway", action="store_true")
    choice.add_argument("--set-points", metavar="POINTS")
    decide_cmd.add_argument("--reason", required=True)
    decide_cmd.set_defaults(run=decide)

    mapping = actions.add_parser("mapping", help="define, revise or show a mapping")
    mapping_actions = mapping.add_subparsers(dest="mapping_command", required=True)
    define_cmd = with_by(mapping_actions.add_parser("define", help="define from a JSON file"))
    define_cmd.add_argument("file")
    define_cmd.set_defaults(run=mapping_define)
    revise_cmd = with_by(mapping_actions.add_parser("revise", help="a new version from a JSON "
                                                    "file"))
    revise_cmd.add_argument("code")
    revise_cmd.add_argument("file")
    revise_cmd.add_argument("--reason", required=True)
    revise_cmd.set_defaults(run=mapping_revise)
    mapping_show_cmd = mapping_actions.add_parser("show", help="the current version (JSON)")
    mapping_show_cmd.add_argument("code")
    mapping_show_cmd.set_defaults(run=mapping_show)
