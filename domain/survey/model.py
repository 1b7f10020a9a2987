"""The survey-import aggregates.

`SurveyImport`: one file imported into one cycle under one mapping version — who, when, the
file's SHA-256 (the bytes stay in the blob store), its form, row counts, the rows set aside with
their reasons, every unit's result (n, index, formula, points or "insufficient sample"), the
import it supersedes, and later the secretariat's decisions on small samples. Its id is derived
from (cycle, mapping, mapping version, file hash), so importing the same file again finds it and
writes nothing.

`SurveyImportSeries`: per cycle, framework and instrument, the imports in order; the last one
stands, and its points replace those of the one before (which stays in history, marked
superseded).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.actors import Actor, Role
from domain.base import ParAggregate, by
from domain.errors import InvalidInput, PhaseClosed, ReasonRequired
from domain.framework.structure import nfc
from domain.survey.mapping import encodable

DECISIONS = ("apply_anyway", "set_points")


def import_id(cycle_id: UUID, mapping_id: UUID, mapping_version: int, sha256: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/parindex/survey-imports/{cycle_id}/{mapping_id}/"
                                f"v{mapping_version}/{sha256}")


def series_id(cycle_id: UUID, framework_id: UUID, instrument: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/parindex/survey-series/{cycle_id}/{framework_id}/"
                                f"{instrument}")


class SurveyImport(ParAggregate):
    class Recorded(ParAggregate.Created):
        cycle_id: UUID
        series_id: UUID
        mapping_id: UUID
        mapping_code: str
        mapping_version: int
        framework_id: UUID
        instrument: str
        form: str
        file: dict[str, Any]
        rows: dict[str, Any]
        rejected_rows: list[dict[str, Any]]
        results: list[dict[str, Any]]
        supersedes: UUID | None
        withheld: list[dict[str, Any]]

    class Superseded(ParAggregate.Event):
        by_import_id: UUID

    class SampleDecided(ParAggregate.Event):
        unit_code: str
        item_code: str
        decision: str
        points: Decimal
        reason: str

    @staticmethod
    def create_id(cycle_id: UUID, mapping_id: UUID, mapping_version: int, file: dict[str, Any],
                  **_: Any) -> UUID:
        return import_id(cycle_id, mapping_id, mapping_version, file["sha256"])

    @classmethod
    def record(cls, actor: Actor, plan: dict[str, Any]) -> SurveyImport:
        """Record an import from its plan (what the dry run showed)."""
        actor.require(Role.SECRETARIAT, act="importing a survey")
        return cls(cycle_id=UUID(plan["cycle_id"]), series_id=UUID(plan["series_id"]),
                   mapping_id=UUID(plan["mapping"]["id"]), mapping_code=plan["mapping"]["code"],
                   mapping_version=plan["mapping"]["version"],
                   framework_id=UUID(plan["framework_id"]), instrument=plan["instrument"],
                   form=plan["form"], file=plan["file"], rows=plan["rows"],
                   rejected_rows=plan["rejected_rows"], results=plan["results"],
                   supersedes=UUID(plan["supersedes"]) if plan["supersedes"] else None,
                   withheld=plan["withheld"], **by(actor))

    @event(Recorded)
    def __init__(self, cycle_id: UUID, series_id: UUID, mapping_id: UUID, mapping_code: str,
                 mapping_version: int, framework_id: UUID, instrument: str, form: str,
                 file: dict[str, Any], rows: dict[str, Any],
                 rejected_rows: list[dict[str, Any]], results: list[dict[str, Any]],
                 supersedes: UUID | None, withheld: list[dict[str, Any]], actor_id: str,
                 actor_role: Role) -> None:
        self.cycle_id = cycle_id
        self.series_id = series_id
        self.mapping_id = mapping_id
        self.mapping_code = mapping_code
        self.mapping_version = mapping_version
        self.framework_id = framework_id
        self.instrument = instrument
        self.form = form
        self.file = file
        self.rows = rows
        self.rejected_rows = rejected_rows
        self.results = results
        self.supersedes = supersedes
        self.withheld = withheld
        self.recorded_by = actor_id
        self.superseded_by: UUID | None = None
        self.decisions: dict[str, dict[str, Any]] = {}

    def result(self, unit_code: str, item_code: str) -> dict[str, Any]:
        for result in self.results:
            if result["unit_code"] == unit_code and result["item_code"] == item_code:
                return result
        raise InvalidInput(f"import {self.id} has no result for unit {unit_code}, item "
                           f"{item_code}", field="item_code", item=item_code)

    def applied(self) -> dict[tuple[str, str], str]:
        """(unit, item) → the points this import put on scorecards (results, then decisions)."""
        points = {(r["unit_code"], r["item_code"]): r["points"] for r in self.results
                  if r["status"] == "ok"}
        for decision in self.decisions.values():
            points[(decision["unit_code"], decision["item_code"])] = decision["points"]
        return points

    def pending(self) -> list[dict[str, Any]]:
        """Results below the minimum sample still waiting for the secretariat's decision."""
        return [r for r in self.results if r["status"] == "insufficient_sample"
                and f"{r['unit_code']}/{r['item_code']}" not in self.decisions]

    def supersede(self, actor: Actor, by_import: UUID) -> None:
        actor.require(Role.SECRETARIAT, act="superseding a survey import")
        self._superseded(by_import_id=by_import, **by(actor))

    @event(Superseded)
    def _superseded(self, by_import_id: UUID, actor_id: str, actor_role: Role) -> None:
        self.superseded_by = by_import_id

    def decide(self, actor: Actor, unit_code: str, item_code: str, decision: str,
               points: Decimal, reason: str) -> None:
        """The secretariat's decision on a result below the minimum sample: apply the computed
        points anyway, or set points; always with a reason."""
        actor.require(Role.SECRETARIAT, act="deciding on a small survey sample")
        if self.superseded_by is not None:
            raise PhaseClosed(f"import {self.id} was superseded by {self.superseded_by}; decide "
                              "on that import", field="import_id")
        if decision not in DECISIONS:
            raise InvalidInput(f"decision must be one of {list(DECISIONS)}", field="decision")
        result = self.result(unit_code, item_code)
        if result["status"] != "insufficient_sample":
            raise InvalidInput(f"unit {unit_code}, item {item_code} has a sufficient sample "
                               f"(n = {result['n']}); its points were applied", field="unit_code",
                               item=item_code)
        if reason is None or not str(reason).strip():
            raise ReasonRequired("a decision on a small sample needs a reason", field="reason",
                                 item=item_code)
        encodable(reason, "reason")
        self._decided(unit_code=unit_code, item_code=item_code, decision=decision,
                      points=points, reason=nfc(reason, field="reason"), **by(actor))

    @event(SampleDecided)
    def _decided(self, unit_code: str, item_code: str, decision: str, points: Decimal,
                 reason: str, actor_id: str, actor_role: Role) -> None:
        self.decisions[f"{unit_code}/{item_code}"] = {
            "unit_code": unit_code, "item_code": item_code, "decision": decision,
            "points": str(points), "reason": reason, "actor_id": actor_id}

    def plan(self) -> dict[str, Any]:
        """The import as its dry run showed it."""
        return {
            "import_id": str(self.id), "cycle_id": str(self.cycle_id),
            "series_id": str(self.series_id),
            "mapping": {"id": str(self.mapping_id), "code": self.mapping_code,
                        "version": self.mapping_version},
            "framework_id": str(self.framework_id), "instrument": self.instrument,
            "form": self.form, "file": self.file, "rows": self.rows,
            "rejected_rows": self.rejected_rows, "results": self.results,
            "insufficient_sample": insufficient(self.results),
            "supersedes": None if self.supersedes is None else str(self.supersedes),
            "withheld": self.withheld, "points": points_of(self.results, self.withheld),
        }

    def report(self) -> dict[str, Any]:
        return {**self.plan(), "recorded_by": self.recorded_by,
                "recorded_at": self.created_on.isoformat(),
                "superseded_by": None if self.superseded_by is None else str(self.superseded_by),
                "decisions": list(self.decisions.values()), "pending": self.pending()}


def insufficient(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"unit_code": r["unit_code"], "item_code": r["item_code"], "n": r["n"],
             "index": r["index"], "points_if_applied": r["points"]}
            for r in results if r["status"] == "insufficient_sample"]


def points_of(results: list[dict[str, Any]], withheld: list[dict[str, Any]]
              ) -> list[dict[str, Any]]:
    """What the import writes on scorecards: applied results, then withheld zeros."""
    return ([{"unit_code": r["unit_code"], "item_code": r["item_code"], "points": r["points"]}
             for r in results if r["status"] == "ok"]
            + [{"unit_code": w["unit_code"], "item_code": w["item_code"], "points": "0.00"}
               for w in withheld])


class SurveyImportSeries(ParAggregate):
    """The imports of one cycle, framework and instrument; the last one stands."""

    class Started(ParAggregate.Created):
        cycle_id: UUID
        framework_id: UUID
        instrument: str

    class ImportAccepted(ParAggregate.Event):
        import_id: UUID
        sha256: str

    @staticmethod
    def create_id(cycle_id: UUID, framework_id: UUID, instrument: str, **_: Any) -> UUID:
        return series_id(cycle_id, framework_id, instrument)

    @event(Started)
    def __init__(self, cycle_id: UUID, framework_id: UUID, instrument: str, actor_id: str,
                 actor_role: Role) -> None:
        self.cycle_id = cycle_id
        self.framework_id = framework_id
        self.instrument = instrument
        self.imports: list[str] = []

    @property
    def current(self) -> UUID | None:
        return UUID(self.imports[-1]) if self.imports else None

    def accept(self, actor: Actor, survey_import: UUID, sha256: str) -> None:
        actor.require(Role.SECRETARIAT, act="importing a survey")
        self._accepted(import_id=survey_import, sha256=sha256, **by(actor))

    @event(ImportAccepted)
    def _accepted(self, import_id: UUID, sha256: str, actor_id: str, actor_role: Role) -> None:
        self.imports.append(str(import_id))
