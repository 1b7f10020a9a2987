"""The benchmark cases of one store: library saves, raw-driver inserts, ParIndex commands.

Each case is one operation (a save, a transaction, a command, a load) repeated; `Case.op`
does one, `Case.begin` prepares a repetition (untimed) and `Case.check` verifies afterwards
that the repetition wrote what it should have (untimed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from benchmarks.raw import RawPostgres, RawSQLite, rows_for
from benchmarks.scenario import BenchEntry, Province, officer, one_item
from domain.actors import Role
from domain.application import ParIndex
from domain.scorecard.model import Scorecard
from domain.store.repository import mutate_in_turn

FILLED_EVENTS = 1000  # events recorded on a "busy" scorecard before it is measured
MAX_COMMANDS_PER_SCORECARD = 99  # per repetition: a fresh card stays within versions 2-100


def _nothing() -> None:
    return None


def _no_check(ops: int) -> None:
    return None


@dataclass
class Case:
    key: str  # the row of the table
    flavour: str  # "parindex" or "raw"
    per_op: int  # events (or commands, or loads) per operation
    op: Callable[[], Any]
    begin: Callable[[], None] = _nothing
    check: Callable[[int], None] = _no_check
    max_ops: int = 1_000_000
    ops: int = 0  # operations per timed repetition, set by the warm-up
    rates: list[float] = field(default_factory=list)


# -- direct saves ------------------------------------------------------------------------------

ACTOR = officer("S00")
ACTOR_FIELDS = {"actor_id": ACTOR.id, "actor_role": Role.UNIT_OFFICER}


def new_entry() -> BenchEntry:
    return BenchEntry(cycle_id=uuid4(), unit_code="S00", unit_name="Sở thứ 00", group_code="SO",
                      framework_id=uuid4(), ranked=True, **ACTOR_FIELDS)


def record(entry: BenchEntry, flag: bool) -> None:
    entry.record(item_code="1.1.1", declared={"done": flag}, not_applicable=False,
                 points=Decimal("1") if flag else Decimal("0"), note="", **ACTOR_FIELDS)


def stored_samples(app: ParIndex) -> dict[str, tuple[str, bytes]]:
    """(topic, state) as parindex stores a Started and a Recorded event: the raw rows' payload."""
    entry = new_entry()
    record(entry, True)
    started, recorded = entry.collect_events()
    samples = {}
    for name, domain_event in (("started", started), ("recorded", recorded)):
        stored = app.mapper.to_stored_event(domain_event)
        samples[name] = (stored.topic, stored.state)
    return samples


def library_saves(app: ParIndex) -> list[Case]:
    single, batch = new_entry(), new_entry()
    app.save(single, batch)
    flags = {"single": False, "batch": False}

    def save_one() -> None:
        flags["single"] = not flags["single"]
        record(single, flags["single"])
        app.save(single)

    def save_ten() -> None:
        for _ in range(10):
            flags["batch"] = not flags["batch"]
            record(batch, flags["batch"])
        app.save(batch)

    def save_hundred_aggregates() -> None:
        app.save(*[new_entry() for _ in range(100)])

    return [Case("save-1", "parindex", 1, save_one),
            Case("save-10", "parindex", 10, save_ten),
            Case("save-100", "parindex", 100, save_hundred_aggregates)]


def raw_inserts(raw: RawSQLite | RawPostgres, samples: dict[str, tuple[str, bytes]]
                ) -> list[Case]:
    topic, state = samples["recorded"]
    started_topic, started_state = samples["started"]
    streams = {1: [uuid4(), 1], 10: [uuid4(), 1]}

    def insert(count: int) -> Callable[[], None]:
        stream = streams[count]

        def write() -> None:
            raw.write(rows_for(stream[0], stream[1], count, topic, state))
            stream[1] += count

        return write

    def insert_hundred_originators() -> None:
        raw.write([(uuid4(), 1, started_topic, started_state) for _ in range(100)])

    return [Case("save-1", "raw", 1, insert(1)),
            Case("save-10", "raw", 10, insert(10)),
            Case("save-100", "raw", 100, insert_hundred_originators)]


# -- commands through the ParIndex API ----------------------------------------------------------


class ScorecardCommands:
    """record_self_scores on one item with alternating values, each repetition on a scorecard
    no other repetition touched (fresh, or filled with FILLED_EVENTS events beforehand)."""

    def __init__(self, app: ParIndex, province: Province, units: list[str],
                 cold: bool = False) -> None:
        self.app = app
        self.province = province
        self.units = list(units)
        self.cold = cold
        self.unit = ""
        self.card_id: UUID | None = None
        self.flag = False
        self.start_version = 0
        self.versions: list[tuple[int, int]] = []  # (first, last) version written per rep

    def begin(self) -> None:
        self.unit = self.units.pop(0)
        self.card_id = self.province.scorecards[self.unit]
        card = self.app.scorecard(self.card_id)  # as a live server has it: in the cache
        self.flag = bool((card.item("1.1.1").declared or {}).get("done"))
        self.start_version = card.version

    def op(self) -> None:
        if self.cold:  # as after a restart or an eviction: snapshot + the events after it
            self.app.repository.cache.get(self.card_id, evict=True)
        self.flag = not self.flag
        self.app.record_self_scores(officer(self.unit), self.card_id, one_item(self.flag))

    def check(self, ops: int) -> None:
        version = self.app.scorecard(self.card_id).version
        if version != self.start_version + ops:
            raise AssertionError(f"{ops} commands on {self.unit} moved its scorecard from "
                                 f"{self.start_version} to {version}; each should add 1 event")
        self.versions.append((self.start_version + 1, version))


def commands(app: ParIndex, province: Province, repetitions: int,
             log: Callable[[str], None]) -> tuple[list[Case], dict[str, ScorecardCommands]]:
    """Commands on fresh and on busy scorecards (cache warm and cold), and a full replay."""
    count = repetitions + 1  # a scorecard for the warm-up and one per timed repetition
    fresh = [province.take_unit() for _ in range(count)]
    busy = [province.take_unit() for _ in range(count)]
    busy_cold = [province.take_unit() for _ in range(count)]
    log(f"  filling {2 * count} scorecards with {FILLED_EVENTS} events each")
    for unit in busy + busy_cold:
        version = province.fill(unit, FILLED_EVENTS // 8)
        assert version == FILLED_EVENTS + 1, version
    runs = {"cmd-fresh": ScorecardCommands(app, province, fresh),
            "cmd-1000": ScorecardCommands(app, province, busy),
            "cmd-1000-cold": ScorecardCommands(app, province, busy_cold, cold=True)}
    cases = [Case(key, "parindex", 1, run.op, run.begin, run.check,
                  max_ops=MAX_COMMANDS_PER_SCORECARD) for key, run in runs.items()]

    replayed = province.scorecards[busy[0]]  # read only up to version FILLED_EVENTS + 1

    def replay() -> None:
        card = mutate_in_turn(None, app.events.get(replayed, lte=FILLED_EVENTS + 1))
        assert isinstance(card, Scorecard) and card.version == FILLED_EVENTS + 1

    cases.append(Case("replay-1000", "parindex", 1, replay))
    return cases, runs
