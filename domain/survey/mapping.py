"""Survey mappings: which question codes (microdata) or indicators (aggregates) feed which
survey-fed sub-criterion, and how — as data, event-sourced and versioned.

A mapping document (what the events store, normalised; defaults filled in):

    {"code": "KH-2025-SO-SIPAS", "title": "SIPAS 2025, khối sở",
     "framework_id": "…", "framework_code": "SO-2025", "instrument": "SIPAS",
     "min_valid_n": 30,
     "columns": {"respondent": "respondent_id", "unit": "unit_code", "stratum": null},
     "aggregate_columns": {"unit": "unit_code", "indicator": "indicator", "n": "n",
                           "share": "satisfied_share", "mean": "mean"},
     "missing_values": ["", "99", "dk", "don't know", "không biết", …],
     "ignore_columns": ["start", "end", "demo_*"],
     "stratum_weights": {},
     "items": [{"item_code": "8.2", "method": "satisfied_share",
                "questions": ["SIPAS_Q1", "SIPAS_Q2"], "indicators": ["SIPAS_8_2"]}]}

Methods (PAR-INDEX.md §4.4, on the 1–5 Likert scale, "don't know" and blanks missing):
- `satisfied_share`: per question, the share of valid answers that are 4 or 5; the item's index is
  the mean of its questions' shares (aggregates: the mean of its indicators' satisfied shares);
- `rescaled_mean`: per respondent, the mean of their valid answers to the item's questions; the
  index is (mean over respondents − 1) / 4 (aggregates: (mean of the indicators' means − 1) / 4).
With stratum weights, every respondent counts with the weight of their stratum (weight =
population share / sample share, computed by whoever designed the sample); n stays unweighted.
Points = max_points × index (index rounded to 4 decimals, points to 2, both half-up).
"""

from __future__ import annotations

import fnmatch
import json
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.actors import Actor, Role
from domain.base import ParAggregate, by
from domain.errors import InvalidInput, NotFound, ReasonRequired
from domain.framework.methods import SURVEY_INSTRUMENTS
from domain.framework.model import framework_id as framework_id_of
from domain.framework.structure import FrameworkTree, nfc
from domain.points import parse_decimal

METHODS = ("satisfied_share", "rescaled_mean")
DEFAULT_MIN_VALID_N = 30
DEFAULT_MISSING = ("", "99", "98", "dk", "don't know", "dont_know", "dont know", "không biết",
                   "khong biet", "kb", "na", "n/a", "không trả lời", "ktl", "refused")
DEFAULT_COLUMNS = {"respondent": "respondent_id", "unit": "unit_code", "stratum": None}
DEFAULT_AGGREGATE_COLUMNS = {"unit": "unit_code", "indicator": "indicator", "n": "n",
                             "share": "satisfied_share", "mean": "mean"}
# Columns every KoboToolbox or LimeSurvey export carries besides the answers; a header starting
# with "_" (Kobo's _id, _uuid, _submission_time, …) is metadata too.
METADATA_COLUMNS = frozenset({
    "start", "end", "today", "deviceid", "username", "simserial", "subscriberid",
    "phonenumber", "audit", "__version__", "meta/instanceid", "instanceid", "meta/rootuuid",
    "formhub/uuid", "submitdate", "lastpage", "startlanguage", "seed", "startdate", "datestamp",
    "ipaddr", "refurl", "token", "interviewtime"})
MAX_CODE = 100


def mapping_id(code: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"/parindex/survey-mappings/{code}")


def encodable(value: object, field: str) -> None:
    """Refuse text that cannot be stored (lone surrogates from a JSON "\\ud800" escape)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} holds text that is not valid Unicode", field=field) from None


def norm(text: str) -> str:
    """A cell or header as compared: NFC, stripped (Vietnamese may arrive in NFD)."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.strip()


@dataclass(frozen=True)
class ItemRule:
    item_code: str
    method: str
    questions: tuple[str, ...]
    indicators: tuple[str, ...]


@dataclass(frozen=True)
class MappingSpec:
    """A parsed, normalised mapping document."""

    code: str
    title: str
    framework_id: UUID
    framework_code: str
    instrument: str
    min_valid_n: int
    columns: dict[str, str | None]
    aggregate_columns: dict[str, str]
    missing_values: frozenset[str]
    ignore_columns: tuple[str, ...]
    stratum_weights: dict[str, Decimal]
    items: tuple[ItemRule, ...]

    @property
    def questions(self) -> tuple[str, ...]:
        """Every question code, in first-seen order."""
        return tuple(dict.fromkeys(q for rule in self.items for q in rule.questions))

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i for rule in self.items for i in rule.indicators))

    def ignored(self, header: str) -> bool:
        lowered = header.lower()
        if header.startswith("_") or lowered in METADATA_COLUMNS:
            return True
        return any(fnmatch.fnmatchcase(lowered, pattern.lower())
                   for pattern in self.ignore_columns)

    def document(self) -> dict[str, Any]:
        return {
            "code": self.code, "title": self.title, "framework_id": str(self.framework_id),
            "framework_code": self.framework_code, "instrument": self.instrument,
            "min_valid_n": self.min_valid_n, "columns": dict(self.columns),
            "aggregate_columns": dict(self.aggregate_columns),
            "missing_values": sorted(self.missing_values),
            "ignore_columns": list(self.ignore_columns),
            "stratum_weights": {k: str(v) for k, v in sorted(self.stratum_weights.items())},
            "items": [{"item_code": r.item_code, "method": r.method,
                       "questions": list(r.questions), "indicators": list(r.indicators)}
                      for r in self.items],
        }

    def check_against(self, tree: FrameworkTree) -> None:
        """Every item is a survey-fed item of the framework, of this mapping's instrument."""
        if tree.code != self.framework_code:
            raise InvalidInput(f"framework_code {self.framework_code} does not match the "
                               f"framework ({tree.code})", field="framework_code")
        for index, rule in enumerate(self.items):
            field = f"items[{index}].item_code"
            node = tree.nodes.get(rule.item_code)
            if node is None or not node.is_item:
                raise InvalidInput(f"{rule.item_code!r} is not a scored item of framework "
                                   f"{tree.code}", field=field, item=rule.item_code)
            if not node.survey_fed:
                raise InvalidInput(f"{rule.item_code} is not survey-fed in {tree.code}",
                                   field=field, item=rule.item_code)
            assert node.method is not None
            instrument = node.method.document().get("instrument")
            if instrument != self.instrument:
                raise InvalidInput(f"{rule.item_code} is fed by the {instrument} survey, not "
                                   f"{self.instrument}", field=field, item=rule.item_code)


def framework_reference(document: dict[str, Any]) -> UUID:
    """The framework a mapping document names: `framework_id`, or `framework_code` with an
    optional `framework_version` (default 1)."""
    if not isinstance(document, dict):
        raise InvalidInput("a mapping is a JSON object", field="mapping")
    raw = document.get("framework_id")
    if raw:
        try:
            return UUID(str(raw))
        except ValueError:
            raise InvalidInput(f"framework_id {raw!r} is not a UUID",
                               field="framework_id") from None
    code = document.get("framework_code")
    if not isinstance(code, str) or not code.strip():
        raise InvalidInput("name the framework: framework_id, or framework_code (and "
                           "framework_version)", field="framework_code")
    version = document.get("framework_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("framework_version must be a whole number ≥ 1",
                           field="framework_version")
    return framework_id_of(code.strip(), version)


def _text_list(value: object, field: str, *, allow_empty_items: bool = False) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{field} must be a list of texts", field=field)
    out = [norm(v) for v in value]
    if not allow_empty_items and any(not v for v in out):
        raise InvalidInput(f"{field} holds an empty code", field=field)
    return out


def _columns(raw: object, defaults: dict[str, Any], field: str) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{field} must be an object", field=field)
    unknown = sorted(set(raw) - set(defaults))
    if unknown:
        raise InvalidInput(f"{field} has unknown keys {unknown}; known: {sorted(defaults)}",
                           field=field)
    out = dict(defaults)
    for key, value in raw.items():
        if value is None and defaults[key] is None:
            continue
        out[key] = nfc(value, field=f"{field}.{key}")
    return out


def parse_mapping(document: object, framework_id: UUID, framework_code: str) -> MappingSpec:
    """Check a mapping document's structure and normalise it (without the framework's tree;
    `MappingSpec.check_against` does that part)."""
    if not isinstance(document, dict):
        raise InvalidInput("a mapping is a JSON object", field="mapping")
    known = {"code", "title", "framework_id", "framework_code", "framework_version",
             "instrument", "min_valid_n", "columns", "aggregate_columns", "missing_values",
             "ignore_columns", "stratum_weights", "items"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise InvalidInput(f"unknown keys {unknown}", field=unknown[0])
    code = nfc(document.get("code"), field="code")
    if len(code) > MAX_CODE or "/" in code:
        raise InvalidInput(f"code has at most {MAX_CODE} characters and no '/'", field="code")
    title = nfc(document.get("title") or code, field="title")
    instrument = document.get("instrument")
    if instrument not in SURVEY_INSTRUMENTS:
        raise InvalidInput(f"instrument must be one of {list(SURVEY_INSTRUMENTS)}",
                           field="instrument")
    min_n = document.get("min_valid_n", DEFAULT_MIN_VALID_N)
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
        raise InvalidInput("min_valid_n must be a whole number ≥ 1", field="min_valid_n")
    columns = _columns(document.get("columns"), DEFAULT_COLUMNS, "columns")
    aggregate_columns = _columns(document.get("aggregate_columns"),
                                 DEFAULT_AGGREGATE_COLUMNS, "aggregate_columns")
    if len(set(aggregate_columns.values())) != len(aggregate_columns):
        raise InvalidInput("aggregate_columns name five different columns",
                           field="aggregate_columns")
    missing_raw = document.get("missing_values")
    missing = (frozenset(v.lower() for v in _text_list(missing_raw, "missing_values",
                                                       allow_empty_items=True)) | {""}
               if missing_raw is not None else frozenset(DEFAULT_MISSING))
    on_scale = missing & {"1", "2", "3", "4", "5"}
    if on_scale:
        raise InvalidInput(f"missing_values may not hold answers of the 1–5 scale "
                           f"({sorted(on_scale)})", field="missing_values")
    ignore = tuple(_text_list(document.get("ignore_columns"), "ignore_columns"))
    weights_raw = document.get("stratum_weights") or {}
    if not isinstance(weights_raw, dict):
        raise InvalidInput("stratum_weights maps stratum codes to weights",
                           field="stratum_weights")
    weights: dict[str, Decimal] = {}
    for key, value in weights_raw.items():
        field = f"stratum_weights.{key}"
        weight = parse_decimal(value, field=field)
        if weight == 0:
            raise InvalidInput(f"{field} must be above 0", field=field)
        weights[norm(str(key))] = weight
    if weights and not columns["stratum"]:
        raise InvalidInput("stratum weights need columns.stratum (the column naming each "
                           "respondent's stratum)", field="columns.stratum")
    items = document.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidInput("map at least one item", field="items")
    rules: list[ItemRule] = []
    seen: set[str] = set()
    reserved = {v for v in columns.values() if v}
    for index, raw in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(raw, dict):
            raise InvalidInput(f"{where} must be an object", field=where)
        item_code = nfc(raw.get("item_code"), field=f"{where}.item_code")
        if item_code in seen:
            raise InvalidInput(f"item {item_code} is mapped twice", field=f"{where}.item_code",
                               item=item_code)
        seen.add(item_code)
        method = raw.get("method", "satisfied_share")
        if method not in METHODS:
            raise InvalidInput(f"method must be one of {list(METHODS)}",
                               field=f"{where}.method", item=item_code)
        questions = _text_list(raw.get("questions"), f"{where}.questions")
        indicators = _text_list(raw.get("indicators"), f"{where}.indicators")
        if not questions and not indicators:
            raise InvalidInput(f"item {item_code} needs question codes (for responses) or "
                               "indicators (for aggregates)", field=f"{where}.questions",
                               item=item_code)
        for codes, name in ((questions, "questions"), (indicators, "indicators")):
            if len(set(codes)) != len(codes):
                raise InvalidInput(f"item {item_code} lists a code twice in {name}",
                                   field=f"{where}.{name}", item=item_code)
        clash = reserved & set(questions)
        if clash:
            raise InvalidInput(f"question codes {sorted(clash)} are also the respondent, unit "
                               "or stratum column", field=f"{where}.questions", item=item_code)
        rules.append(ItemRule(item_code, method, tuple(questions), tuple(indicators)))
    spec = MappingSpec(code=code, title=title, framework_id=framework_id,
                       framework_code=framework_code, instrument=str(instrument),
                       min_valid_n=min_n, columns=columns, aggregate_columns=aggregate_columns,
                       missing_values=missing, ignore_columns=ignore, stratum_weights=weights,
                       items=tuple(rules))
    encodable(spec.document(), "mapping")
    return spec


def spec_of(document: dict[str, Any]) -> MappingSpec:
    """The spec of a stored (already normalised) document."""
    return parse_mapping(document, UUID(document["framework_id"]), document["framework_code"])


class SurveyMapping(ParAggregate):
    """A mapping's versions: version N is the N-th document; imports name the version used."""

    class Defined(ParAggregate.Created):
        code: str
        document: dict[str, Any]

    class Revised(ParAggregate.Event):
        document: dict[str, Any]
        reason: str

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return mapping_id(code)

    @classmethod
    def define(cls, actor: Actor, spec: MappingSpec) -> SurveyMapping:
        actor.require(Role.SECRETARIAT, act="defining a survey mapping")
        return cls(code=spec.code, document=spec.document(), **by(actor))

    @event(Defined)
    def __init__(self, code: str, document: dict[str, Any], actor_id: str,
                 actor_role: Role) -> None:
        self.code = code
        self.documents: list[dict[str, Any]] = [document]

    @property
    def mapping_version(self) -> int:
        return len(self.documents)

    @property
    def document(self) -> dict[str, Any]:
        return self.documents[-1]

    def spec(self, version: int | None = None) -> MappingSpec:
        if version is None:
            version = self.mapping_version
        if not 1 <= version <= self.mapping_version:
            raise NotFound(f"mapping {self.code} has no version {version}", field="version")
        return spec_of(self.documents[version - 1])

    def revise(self, actor: Actor, spec: MappingSpec, reason: str) -> bool:
        """Record a new version; False (and no event) if nothing changed."""
        actor.require(Role.SECRETARIAT, act="revising a survey mapping")
        if spec.code != self.code:
            raise InvalidInput(f"a revision keeps the code {self.code}", field="code")
        current = self.spec()
        if (spec.framework_id, spec.instrument) != (current.framework_id, current.instrument):
            raise InvalidInput("a revision keeps the framework and the instrument; define a "
                               "new mapping for another one", field="framework_id")
        if not reason or not reason.strip():
            raise ReasonRequired("a mapping revision needs a reason", field="reason")
        document = spec.document()
        if document == self.document:
            return False
        self._revised(document=document, reason=nfc(reason, field="reason"), **by(actor))
        return True

    @event(Revised)
    def _revised(self, document: dict[str, Any], reason: str, actor_id: str,
                 actor_role: Role) -> None:
        self.documents.append(document)
