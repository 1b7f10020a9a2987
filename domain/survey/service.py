"""SurveyService: mappings, dry runs, imports, sample decisions and row traces over one ParIndex
and one blob store.

A dry run and an import share one function (`_plan`), so the dry run is exactly what the import
would write; the import then records the plan as a `SurveyImport` and applies its points to every
covered scorecard in the same transaction (`ParIndex.apply_survey_import`). A file is refused
whole — every faulty row listed — or imported whole.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.base import ParAggregate
from domain.cycle.model import AssessmentCycle
from domain.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    PhaseClosed,
    StaleVersion,
)
from domain.framework.methods import SURVEY_INSTRUMENTS
from domain.points import parse_points
from domain.scorecard.model import SURVEY_PHASES
from domain.store.blobs import BlobStore, StoredBlob
from domain.survey.conversion import (
    AGGREGATES,
    FORMS,
    RESPONSES,
    AggregateTally,
    Listing,
    ResponseTally,
    UnitScope,
    trace_rows,
)
from domain.survey.errors import SurveyRejected, fault
from domain.survey.mapping import (
    MappingSpec,
    SurveyMapping,
    framework_reference,
    mapping_id,
    norm,
    parse_mapping,
)
from domain.survey.model import (
    SurveyImport,
    SurveyImportSeries,
    import_id,
    insufficient,
    points_of,
    series_id,
)
from domain.survey.reading import SourceFile, TableReader, inspect

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
RETRIES = 30
BACKOFF_SECONDS = 0.005

# (stage, fraction done or -1 if unknown, rows read): stages "reading", "duplicates", "saving"
Progress = Callable[[str, float, int], None]


@dataclass(frozen=True)
class MappingResult:
    mapping_id: UUID
    code: str
    version: int
    position: int | None


class SurveyService:
    def __init__(self, app: ParIndex, blobs: BlobStore, max_bytes: int = DEFAULT_MAX_BYTES):
        self.app = app
        self.blobs = blobs
        self.max_bytes = max_bytes

    # -- plumbing -----------------------------------------------------------------------------

    def _load(self, cls: type, aggregate_id: UUID, what: str) -> Any:
        try:
            aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{what} does not exist") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{what} does not exist")
        return aggregate

    def _find(self, cls: type, aggregate_id: UUID) -> Any:
        try:
            aggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def _save(self, *aggregates: ParAggregate) -> int | None:
        recordings = self.app.save(*aggregates)
        return recordings[-1].notification.id if recordings else None

    @staticmethod
    def _retrying(attempt: Callable[[], Any], what: str) -> Any:
        for retry in range(RETRIES):
            try:
                return attempt()
            except IntegrityError:
                time.sleep(random.uniform(0, BACKOFF_SECONDS * (retry + 1)))
        raise StaleVersion(f"{what} kept changing during {RETRIES} attempts; try again",
                           expected=-1, actual=-1)

    # -- mappings -----------------------------------------------------------------------------

    def _spec(self, document: object) -> MappingSpec:
        framework_id = framework_reference(document)  # type: ignore[arg-type]
        framework = self.app.framework(framework_id)
        spec = parse_mapping(document, framework.id, framework.code)
        spec.check_against(self.app.framework_tree(framework.id))
        return spec

    def define_mapping(self, actor: Actor, document: dict[str, Any]) -> MappingResult:
        """Define a mapping (version 1) from its document."""
        actor.require(Role.SECRETARIAT, act="defining a survey mapping")
        mapping = SurveyMapping.define(actor, self._spec(document))
        try:
            position = self._save(mapping)
        except IntegrityError:
            raise AlreadyExists(f"mapping {mapping.code} already exists; revise it instead",
                                field="code") from None
        return MappingResult(mapping.id, mapping.code, mapping.mapping_version, position)

    def revise_mapping(self, actor: Actor, code: str, document: dict[str, Any],
                       reason: str) -> MappingResult:
        """Record the next version of a mapping; an identical document writes nothing."""
        actor.require(Role.SECRETARIAT, act="revising a survey mapping")
        spec = self._spec({**document, "code": document.get("code", code)})

        def attempt() -> MappingResult:
            mapping = self.mapping(code)
            changed = mapping.revise(actor, spec, reason)
            position = self._save(mapping) if changed else None
            return MappingResult(mapping.id, mapping.code, mapping.mapping_version, position)

        return self._retrying(attempt, f"mapping {code}")

    def mapping(self, code: str) -> SurveyMapping:
        try:
            ref = UUID(str(code))
        except ValueError:
            try:
                ref = mapping_id(norm(str(code)))
            except UnicodeEncodeError:
                raise NotFound("no such survey mapping", field="mapping") from None
        return self._load(SurveyMapping, ref, f"survey mapping {code!r}")

    # -- files --------------------------------------------------------------------------------

    def store(self, chunks: Iterable[bytes]) -> StoredBlob:
        """Stream a file into the content-addressed store (refused above the size limit)."""
        try:
            return self.blobs.put(chunks, self.max_bytes)
        except InvalidInput as error:
            raise SurveyRejected.one("file-too-large", error.message) from None

    # -- imports ------------------------------------------------------------------------------

    def import_file(self, actor: Actor, cycle_ref: UUID, mapping_code: str, blob: StoredBlob,
                    file_name: str, *, form: str | None = None, encoding: str = "utf-8",
                    dry_run: bool = False, progress: Progress | None = None) -> dict[str, Any]:
        """Import (or, with `dry_run`, only show) a survey file. Returns the report: status
        ("dry_run", "imported", "already_imported"), the per-unit results with their formulas,
        the rows set aside, the points written and the import they supersede."""
        actor.require(Role.SECRETARIAT, act="importing a survey")
        cycle = self.app.cycle(cycle_ref)
        mapping = self.mapping(mapping_code)
        spec = mapping.spec()
        the_id = import_id(cycle.id, mapping.id, mapping.mapping_version, blob.sha256)
        existing = self._find(SurveyImport, the_id)
        if existing is not None:
            return {"status": "already_imported", "position": None, **existing.report()}
        if cycle.phase not in SURVEY_PHASES:
            raise PhaseClosed(f"survey points are imported between self-assessment and the "
                              f"council's approval; the cycle is in {cycle.phase.value}")
        if form is not None and form not in FORMS:
            raise InvalidInput(f"form must be one of {list(FORMS)}", field="form")
        plan = self._plan(cycle, mapping, spec, blob, _file_name(file_name, blob), form,
                          encoding, progress)
        if dry_run:
            plan = self._supersession(actor, plan, None)
            return {"status": "dry_run", "position": None, **plan}

        def attempt() -> dict[str, Any]:
            if self._find(SurveyImport, the_id) is not None:
                return {"status": "already_imported", "position": None,
                        **self.survey_import(the_id).report()}
            records: list[ParAggregate] = []
            final = self._supersession(actor, plan, records)
            survey_import = SurveyImport.record(actor, final)
            records.insert(0, survey_import)
            rows = self._point_rows(final)
            if progress is not None:
                progress("saving", -1.0, final["rows"]["read"])
            position = self.app.apply_survey_import(actor, cycle.id, the_id, rows, records)
            return {"status": "imported", "position": position, **survey_import.plan()}

        return self._retrying(attempt, "the survey import's series")

    def _scope(self, cycle: AssessmentCycle, spec: MappingSpec) -> UnitScope:
        groups = {code for code, group in cycle.groups.items()
                  if group["framework_id"] == spec.framework_id}
        if not groups:
            raise InvalidInput(f"mapping {spec.code} is for framework {spec.framework_code}, "
                               f"which no group of this cycle uses", field="mapping")
        covered = {code: unit["group"] for code, unit in cycle.units.items()
                   if unit["group"] in groups}
        others = {code: unit["group"] for code, unit in cycle.units.items()
                  if unit["group"] not in groups}
        return UnitScope(covered=covered, others=others, framework_code=spec.framework_code)

    def _source(self, blob: StoredBlob, encoding: str) -> SourceFile:
        if not self.blobs.exists(blob.sha256):
            raise NotFound(f"no stored file {blob.sha256}", field="sha256")
        return inspect(self.blobs.path_of(blob.sha256), blob.sha256, blob.size, self.max_bytes,
                       encoding)

    def _plan(self, cycle: AssessmentCycle, mapping: SurveyMapping, spec: MappingSpec,
              blob: StoredBlob, file_name: str, form: str | None, encoding: str,
              progress: Progress | None) -> dict[str, Any]:
        scope = self._scope(cycle, spec)
        source = self._source(blob, encoding)
        tree = self.app.framework_tree(spec.framework_id)
        faults = Listing()
        reader = TableReader(source, _stage(progress, "reading"))
        rows = iter(reader)
        header: tuple[int, list[str]] | None = None
        for number, cells in rows:
            if any(c.strip() for c in cells):
                header = (number, cells)
                break
        if header is None:
            raise SurveyRejected.one("empty-file", "the file has no header row and no data")
        chosen = form or _detect_form(header[1], spec)
        tally: ResponseTally | AggregateTally
        if chosen == RESPONSES:
            if not spec.questions:
                raise SurveyRejected.one("wrong-form", f"mapping {spec.code} maps no question "
                                         "codes: it takes aggregates (unit, indicator, n, "
                                         "share or mean), not responses", row=header[0])
            tally = ResponseTally(spec, scope, faults, pad_short_rows=source.format == "xlsx")
        else:
            if not spec.indicators:
                raise SurveyRejected.one("wrong-form", f"mapping {spec.code} maps no "
                                         "indicators: it takes responses (one row per "
                                         "respondent), not aggregates", row=header[0])
            tally = AggregateTally(spec, scope, faults)
        try:
            tally.header(*header)
            if not tally.ready:
                raise SurveyRejected(faults.sorted(), faults.count)
            if isinstance(tally, ResponseTally):
                tally.consume(rows)
            else:
                for number, cells in rows:
                    tally.add(number, cells)
            for item in reader.faults:
                faults.add(item)
            faults.count += reader.fault_count - len(reader.faults)
            if tally.rows_read == 0:
                faults.add(fault("no-rows", "the file has a header but no data rows"))
            if isinstance(tally, ResponseTally):
                if progress is not None and tally.suspect_slots:
                    progress("duplicates", -1.0, tally.rows_read)
                tally.confirm_duplicates()
            else:
                tally.check_complete()
            if faults.count:
                raise SurveyRejected(faults.sorted(), faults.count)
            outcomes = tally.outcomes(tree)
        finally:
            if isinstance(tally, ResponseTally):
                tally.close()
        the_id = import_id(cycle.id, mapping.id, mapping.mapping_version, blob.sha256)
        file = {"sha256": blob.sha256, "size": blob.size, "name": file_name,
                "format": source.format, "encoding": source.encoding}
        unit_column = (spec.columns["unit"] if chosen == RESPONSES
                       else spec.aggregate_columns["unit"])
        results = []
        for outcome in outcomes:
            document = outcome.document()
            document["detail"] = {
                "survey_import_id": str(the_id), "file_sha256": blob.sha256,
                "file_name": file_name, "form": chosen,
                "mapping": {"code": spec.code, "version": mapping.mapping_version},
                "instrument": spec.instrument,
                "rows": (f"the rows of {file_name} (sha256 {blob.sha256}) whose {unit_column} "
                         f"is {outcome.unit_code}"),
                **document["detail"]}
            results.append(document)
        return {
            "import_id": str(the_id), "cycle_id": str(cycle.id),
            "series_id": str(series_id(cycle.id, spec.framework_id, spec.instrument)),
            "mapping": {"id": str(mapping.id), "code": spec.code,
                        "version": mapping.mapping_version},
            "framework_id": str(spec.framework_id), "instrument": spec.instrument,
            "form": chosen, "file": file,
            "rows": {"read": tally.rows_read, "used": tally.rows_used,
                     "rejected": tally.set_aside.count},
            "rejected_rows": tally.set_aside.listed,
            "results": results, "insufficient_sample": insufficient(results),
            "supersedes": None, "withheld": [], "points": [],
        }

    def _supersession(self, actor: Actor, plan: dict[str, Any],
                      records: list[ParAggregate] | None) -> dict[str, Any]:
        """Fill in the import this one supersedes and the points it withdraws; with `records`,
        also change the series and the superseded import (for the save)."""
        series = self._find(SurveyImportSeries, UUID(plan["series_id"]))
        previous = None
        if series is not None and series.current is not None:
            previous = self.survey_import(series.current)
        withheld = []
        if previous is not None:
            applied_now = {(r["unit_code"], r["item_code"]) for r in plan["results"]
                           if r["status"] == "ok"}
            for (unit, item), points in sorted(previous.applied().items()):
                if (unit, item) not in applied_now:
                    withheld.append({
                        "unit_code": unit, "item_code": item, "previous_points": points,
                        "reason": (f"import {plan['import_id']} supersedes import "
                                   f"{previous.id}, and gives this unit and item no points "
                                   "(insufficient sample or not in the new file) until the "
                                   "secretariat decides")})
        final = {**plan, "supersedes": None if previous is None else str(previous.id),
                 "withheld": withheld}
        final["points"] = points_of(final["results"], withheld)
        if records is not None:
            if series is None:
                series = SurveyImportSeries(cycle_id=UUID(plan["cycle_id"]),
                                            framework_id=UUID(plan["framework_id"]),
                                            instrument=plan["instrument"], actor_id=actor.id,
                                            actor_role=actor.role)
            series.accept(actor, UUID(plan["import_id"]), plan["file"]["sha256"])
            records.append(series)
            if previous is not None:
                previous.supersede(actor, UUID(plan["import_id"]))
                records.append(previous)
        return final

    @staticmethod
    def _point_rows(plan: dict[str, Any]) -> list[dict[str, Any]]:
        rows = [{"unit_code": r["unit_code"], "item_code": r["item_code"],
                 "points": r["points"], "detail": r["detail"]}
                for r in plan["results"] if r["status"] == "ok"]
        for w in plan["withheld"]:
            rows.append({"unit_code": w["unit_code"], "item_code": w["item_code"],
                         "points": "0.00",
                         "detail": {"survey_import_id": plan["import_id"], "withheld": True,
                                    "supersedes": plan["supersedes"],
                                    "previous_points": w["previous_points"],
                                    "formula": "no points: " + w["reason"]}})
        return rows

    # -- reading imports ----------------------------------------------------------------------

    def survey_import(self, ref: UUID | str) -> SurveyImport:
        try:
            the_id = ref if isinstance(ref, UUID) else UUID(str(ref))
        except ValueError:
            raise NotFound(f"survey import {ref} does not exist", field="import_id") from None
        return self._load(SurveyImport, the_id, f"survey import {ref}")

    def report(self, ref: UUID) -> dict[str, Any]:
        return self.survey_import(ref).report()

    def imports_of(self, cycle_ref: UUID) -> list[dict[str, Any]]:
        """Every series of the cycle (per framework and instrument) with its imports, the
        standing one last."""
        cycle = self.app.cycle(cycle_ref)
        out = []
        for framework in sorted({str(g["framework_id"]) for g in cycle.groups.values()}):
            for instrument in SURVEY_INSTRUMENTS:
                series = self._find(SurveyImportSeries,
                                    series_id(cycle.id, UUID(framework), instrument))
                if series is None:
                    continue
                out.append({"series_id": str(series.id), "framework_id": framework,
                            "instrument": instrument, "imports": list(series.imports),
                            "current": str(series.current)})
        return out

    def trace(self, ref: UUID, unit_code: str, limit: int = 1000) -> dict[str, Any]:
        """The file's rows of one unit, read again from the stored file (hash verified)."""
        survey_import = self.survey_import(ref)
        mapping = self._load(SurveyMapping, survey_import.mapping_id, "survey mapping")
        spec = mapping.spec(survey_import.mapping_version)
        file = survey_import.file
        encoding = "windows-1258" if file["encoding"] == "windows-1258" else "utf-8"
        source = self._source(StoredBlob(file["sha256"], file["size"]), encoding)
        rows, total = trace_rows(TableReader(source), spec, survey_import.form,
                                 norm(unit_code), max(1, limit))
        rejected = {r["row"]: r["reason"] for r in survey_import.rejected_rows}
        for row in rows:
            if row["row"] in rejected:
                row["rejected"] = rejected[row["row"]]
        results = [r for r in survey_import.results if r["unit_code"] == norm(unit_code)]
        if not results and not total:
            raise NotFound(f"import {ref} has no unit {unit_code}", field="unit_code")
        return {"import_id": str(survey_import.id), "unit_code": norm(unit_code),
                "file": file, "form": survey_import.form, "total_rows": total, "rows": rows,
                "results": results}

    # -- the secretariat's decisions ----------------------------------------------------------

    def decide(self, actor: Actor, ref: UUID, unit_code: str, item_code: str | None,
               decision: str, reason: str, points: Any = None) -> dict[str, Any]:
        """Decide on results below the minimum sample: "apply_anyway" (the computed points; all
        the unit's pending items when no item is named) or "set_points" (for one item)."""
        actor.require(Role.SECRETARIAT, act="deciding on a small survey sample")
        unit_code = norm(str(unit_code or ""))

        def attempt() -> dict[str, Any]:
            survey_import = self.survey_import(ref)
            if item_code:
                items = [norm(item_code)]
            else:
                if decision == "set_points":
                    raise InvalidInput("set_points names one item", field="item_code")
                items = [r["item_code"] for r in survey_import.pending()
                         if r["unit_code"] == unit_code]
                if not items:
                    raise InvalidInput(f"unit {unit_code} has no result waiting for a decision "
                                       f"in import {ref}", field="unit_code")
            rows = []
            for item in items:
                result = survey_import.result(unit_code, item)
                if decision == "apply_anyway":
                    if result["points"] is None:
                        raise InvalidInput(f"unit {unit_code}, item {item} has no valid "
                                           "response: there are no computed points to apply; "
                                           "set points instead", field="decision", item=item)
                    value = parse_points(result["points"], item=item)
                else:
                    if points is None:
                        raise InvalidInput("set_points needs points", field="points", item=item)
                    value = parse_points(points, item=item)
                survey_import.decide(actor, unit_code, item, decision, value, reason)
                decided = survey_import.decisions[f"{unit_code}/{item}"]
                rows.append({"unit_code": unit_code, "item_code": item, "points": str(value),
                             "detail": {**result["detail"], "decision": decision,
                                        "reason": decided["reason"],
                                        "computed_points": result["points"],
                                        "points": str(value)}})
            position = self.app.apply_survey_import(actor, survey_import.cycle_id,
                                                    survey_import.id, rows, [survey_import])
            return {"import_id": str(survey_import.id), "position": position,
                    "decisions": [survey_import.decisions[f"{unit_code}/{i}"] for i in items],
                    "pending": survey_import.pending()}

        return self._retrying(attempt, f"survey import {ref}")


def _file_name(name: str | None, blob: StoredBlob) -> str:
    """The uploaded file's own name, without any client path, as storable NFC text."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = name.encode("utf-8", "replace").decode("utf-8")
    return norm(name)[:255] or blob.sha256


def _stage(progress: Progress | None, stage: str) -> Callable[[float, int], None] | None:
    if progress is None:
        return None
    return lambda fraction, rows: progress(stage, fraction, rows)


def _detect_form(cells: list[str], spec: MappingSpec) -> str:
    """Aggregates when the header has the indicator and n columns and no respondent column."""
    headers = {norm(c) for c in cells}
    columns = spec.aggregate_columns
    if (columns["indicator"] in headers and columns["n"] in headers
            and spec.columns["respondent"] not in headers):
        return AGGREGATES
    return RESPONSES
