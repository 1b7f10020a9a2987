"""`parindex export|chart|report`: publication files from the command line.

The operator reads everything (the internal edition), live or as of a position or UTC time.
The files come from the views; when no projection worker has brought them up to the newest
event, the command folds the missing events first (a worker running elsewhere keeps its lock;
the command then waits for it).

    parindex export ranking --cycle ID [--group SO] --format csv|xlsx -o FILE [--as-of-position N]
    parindex export fields --cycle ID [--group SO] [--field 3] -o FILE.xlsx
    parindex export scorecard --scorecard ID -o FILE.csv
    parindex export audit [--cycle ID] [--unit STC] [--kind appraisal_round_1] -o FILE.xlsx
    parindex chart ranking --cycle ID --group SO -o FILE.svg
    parindex chart fields --scorecard ID -o FILE.png
    parindex chart timeline --scorecard ID -o FILE.png
    parindex report --scorecard ID -o FILE.pdf [--as-of-position N] [--digest]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from api.cli import CannotStart, open_parindex

CATCH_UP_SECONDS = 600.0


@contextmanager
def read_model() -> Iterator[Any]:
    """A ReadModel over views that include every event recorded when the command started."""
    from projections.queries import ReadModel
    from projections.runner import ViewRunner
    from projections.store import ViewStore

    parindex = open_parindex()
    views = ViewStore(parindex.settings)
    try:
        model = ReadModel(parindex, views)
        head = parindex.recorder.max_notification_id() or 0
        if model.position() < head:
            print(f"parindex: bringing the views from position {model.position()} to {head} "
                  "first", file=sys.stderr)
            runner = ViewRunner(parindex, views, idle_seconds=0.05)
            thread, stop = runner.start_thread()
            deadline = time.monotonic() + CATCH_UP_SECONDS
            try:
                while model.position() < head:
                    if time.monotonic() > deadline:
                        raise CannotStart(f"the views did not reach position {head} in "
                                          f"{CATCH_UP_SECONDS:.0f} s")
                    time.sleep(0.05)
            finally:
                stop.set()
                thread.join(timeout=30)
        yield model
    finally:
        views.close()
        parindex.close()


def _as_of(args: argparse.Namespace) -> Any:
    from projections.queries import AsOf

    if args.as_of_position is None and args.as_of_time is None:
        return None
    return AsOf(position=args.as_of_position, time=args.as_of_time)


def _format(args: argparse.Namespace, allowed: tuple[str, ...]) -> str:
    fmt = args.format or Path(args.output).suffix.lstrip(".").lower()
    if fmt not in allowed:
        raise SystemExit(f"parindex: say --format {'|'.join(allowed)} (or name the file "
                         f".{' or .'.join(allowed)})")
    return fmt


def _write(path: str, body: bytes, what: str, position: Any) -> None:
    Path(path).write_bytes(body)
    print(f"{what}: {path} ({len(body):,} bytes, as of position {position})")


def export(args: argparse.Namespace) -> int:
    from projections.outputs import data, exports

    fmt = _format(args, ("csv", "xlsx"))
    with read_model() as model:
        as_of = _as_of(args)
        if args.what == "ranking":
            views = data.rankings(model, UUID(args.cycle), args.group, as_of)
            body = exports.ranking_csv(views) if fmt == "csv" else exports.ranking_xlsx(views)
            position = data.position_of(*views)
        elif args.what == "fields":
            views = data.field_comparisons(model, UUID(args.cycle), args.group, args.field,
                                           as_of)
            body = exports.fields_csv(views) if fmt == "csv" else exports.fields_xlsx(views)
            position = data.position_of(*views)
        elif args.what == "scorecard":
            view = model.scorecard(UUID(args.scorecard), as_of)
            body = (exports.scorecard_csv(view) if fmt == "csv"
                    else exports.scorecard_xlsx(view))
            position = view["as_of_position"]
        else:
            rows, position = data.audit_rows(
                model, as_of=as_of, cycle_ref=UUID(args.cycle) if args.cycle else None,
                unit_code=args.unit, item_code=args.item, actor_id=args.actor, kind=args.kind)
            body = (exports.audit_csv(rows) if fmt == "csv"
                    else exports.audit_xlsx(rows, position=position))
    _write(args.output, body, f"{args.what} ({fmt})", position)
    return 0


def chart(args: argparse.Namespace) -> int:
    from projections.outputs import charts, data

    fmt = _format(args, ("png", "svg"))
    with read_model() as model:
        as_of = _as_of(args)
        if args.what == "ranking":
            ranking, scheme = data.ranking_and_scheme(model, UUID(args.cycle), args.group,
                                                      as_of)
            body, position = charts.ranking_chart(ranking, scheme, fmt), ranking["as_of_position"]
        elif args.what == "fields":
            card, averages, cycle = data.field_profile(model, UUID(args.scorecard), as_of, True)
            group = data.groups_of(cycle, card["group_code"])[0]
            body = charts.field_profile_chart(card, averages, fmt, year=cycle["year"],
                                              group_name=group["name"])
            position = card["as_of_position"]
        else:
            line = data.timeline(model, UUID(args.scorecard), as_of, lambda card, cycle: True)
            body, position = charts.timeline_chart(line, fmt), line["as_of_position"]
    _write(args.output, body, f"{args.what} chart ({fmt})", position)
    return 0


def unit_report(args: argparse.Namespace) -> int:
    from projections.outputs import data, report

    with read_model() as model:
        content = data.report_data(model, UUID(args.scorecard), _as_of(args), internal=True,
                                   group_visible=lambda cycle: True,
                                   may_read=lambda card, cycle: True)
    if not args.digest:
        if not args.output:
            raise SystemExit("parindex report: say -o FILE.pdf (or --digest)")
        _write(args.output, report.report_pdf(content), "report (pdf)",
               content["as_of_position"])
    print(f"sha256 of the report's data: {content['digest']} (position "
          f"{content['as_of_position']})")
    return 0


def _refusing(command: Callable[[argparse.Namespace], int]
              ) -> Callable[[argparse.Namespace], int]:
    """A refused read (unknown id, group or field, bad as-of) is one line and exit status 1."""

    def run(args: argparse.Namespace) -> int:
        from domain.errors import DomainError

        try:
            return command(args)
        except DomainError as error:
            print(f"parindex {args.command}: {error.message}", file=sys.stderr)
            return 1
        except ValueError as error:  # a malformed id
            print(f"parindex {args.command}: {error}", file=sys.stderr)
            return 1

    return run


def demo_hint(parindex: Any, summary: Any) -> str:
    """What `parindex demo` prints about the outputs, with the demo's real ids."""
    cycle_id = summary.cycle_ids[max(summary.cycle_ids)]
    unit = parindex.cycle(cycle_id).unit("STC")
    return "\n".join((
        "\nPublication files (docs/outputs.md; the API serves the same under /api/v1):",
        f"  parindex report --scorecard {unit['scorecard_id']} -o so-tai-chinh.pdf",
        f"  parindex export ranking --cycle {cycle_id} --format xlsx -o xep-hang.xlsx",
        f"  parindex chart ranking --cycle {cycle_id} --group SO -o xep-hang-SO.svg",
        f"  parindex chart timeline --scorecard {unit['scorecard_id']} -o so-tai-chinh.png"))


def _moment_options(command: argparse.ArgumentParser, output_required: bool = True) -> None:
    command.add_argument("--as-of-position", type=int, metavar="N",
                         help="as the views stood at this global position")
    command.add_argument("--as-of-time", type=datetime.fromisoformat, metavar="ISO",
                         help="as the views stood at this UTC time (ISO 8601 with zone)")
    command.add_argument("-o", "--output", required=output_required, metavar="FILE")


def register(sub: Any) -> None:
    exp = sub.add_parser("export", help="export rankings, field comparisons, a scorecard or "
                         "the audit trail as CSV or XLSX")
    kinds = exp.add_subparsers(dest="what", required=True)
    for what, text in (("ranking", "rankings of one group or every group"),
                       ("fields", "field comparisons"), ("scorecard", "one scorecard"),
                       ("audit", "the audit trail")):
        command = kinds.add_parser(what, help=text)
        if what in ("ranking", "fields"):
            command.add_argument("--cycle", required=True, metavar="ID")
            command.add_argument("--group", metavar="CODE", help="every group when omitted")
        if what == "fields":
            command.add_argument("--field", metavar="CODE", help="every field when omitted")
        if what == "scorecard":
            command.add_argument("--scorecard", required=True, metavar="ID")
        if what == "audit":
            command.add_argument("--cycle", metavar="ID")
            for name in ("unit", "item", "actor", "kind"):
                command.add_argument(f"--{name}")
        command.add_argument("--format", choices=("csv", "xlsx"),
                             help="default: the output file's extension")
        _moment_options(command)
        command.set_defaults(run=_refusing(export))

    chart_cmd = sub.add_parser("chart", help="draw a ranking, field-profile or timeline chart "
                               "as PNG or SVG")
    charts_of = chart_cmd.add_subparsers(dest="what", required=True)
    for what, text in (("ranking", "a group's ranking with class bands and the average"),
                       ("fields", "a unit's fields against the group average"),
                       ("timeline", "a unit across rounds and years")):
        command = charts_of.add_parser(what, help=text)
        if what == "ranking":
            command.add_argument("--cycle", required=True, metavar="ID")
            command.add_argument("--group", required=True, metavar="CODE")
        else:
            command.add_argument("--scorecard", required=True, metavar="ID")
        command.add_argument("--format", choices=("png", "svg"),
                             help="default: the output file's extension")
        _moment_options(command)
        command.set_defaults(run=_refusing(chart))

    report_cmd = sub.add_parser("report", help="the per-unit PDF report (internal edition)")
    report_cmd.add_argument("--scorecard", required=True, metavar="ID")
    report_cmd.add_argument("--digest", action="store_true",
                            help="only print the SHA-256 of the report's data (to verify a "
                            "report against the position it names); -o is then ignored")
    _moment_options(report_cmd, output_required=False)
    report_cmd.set_defaults(run=_refusing(unit_report))
