"""Scoring methods: how a sub-criterion turns declared values into points.

A method is data in the framework document (`{"kind": "tiered", ...}`), parsed here into a small
immutable object that validates itself against the item's maximum and computes points. Computation
is pure `Decimal` arithmetic; item points are rounded half-up to two decimals and kept in
[0, max].
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from domain.errors import InvalidFramework, InvalidInput
from domain.points import CENT, ZERO, parse_decimal, parse_points, round_points

HUNDRED = Decimal(100)


def _count(declared: dict[str, Any], key: str, item: str) -> int:
    value = declared.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"declared value {key!r} must be a whole number ≥ 0, got {value!r}",
                           item=item, field=f"declared.{key}")
    return value


def _only_keys(declared: dict[str, Any], keys: set[str], item: str) -> None:
    unknown = sorted(set(declared) - keys)
    missing = sorted(keys - set(declared))
    if unknown:
        raise InvalidInput(f"unknown declared values {unknown}; this item takes {sorted(keys)}",
                           item=item, field=f"declared.{unknown[0]}")
    if missing:
        raise InvalidInput(f"missing declared values {missing}", item=item,
                           field=f"declared.{missing[0]}")


def _ratio(declared: dict[str, Any], item: str) -> tuple[int, int]:
    _only_keys(declared, {"numerator", "denominator"}, item)
    numerator = _count(declared, "numerator", item)
    denominator = _count(declared, "denominator", item)
    if denominator == 0:
        raise InvalidInput("denominator is 0: declare the item not applicable instead", item=item,
                           field="declared.denominator")
    if numerator > denominator:
        raise InvalidInput(f"numerator {numerator} exceeds denominator {denominator}", item=item,
                           field="declared.numerator")
    return numerator, denominator


@dataclass(frozen=True)
class Method:
    """Base of every scoring method. `computes` is False where a person enters the points."""

    kind: ClassVar[str]
    computes: ClassVar[bool] = True
    survey_fed: ClassVar[bool] = False

    def check(self, maximum: Decimal, item: str) -> None:
        """Raise InvalidFramework when the method cannot work with this maximum."""

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        """Validate declared values and return them in stored form."""
        raise NotImplementedError

    def points(self, declared: dict[str, Any], maximum: Decimal) -> Decimal:
        """Points for already-normalised declared values, in [0, maximum], two decimals."""
        raise NotImplementedError

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class YesNo(Method):
    kind: ClassVar[str] = "boolean"

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        _only_keys(declared, {"done"}, item)
        if not isinstance(declared["done"], bool):
            raise InvalidInput("declared value 'done' must be true or false", item=item,
                               field="declared.done")
        return {"done": declared["done"]}

    def points(self, declared: dict[str, Any], maximum: Decimal) -> Decimal:
        return maximum if declared["done"] else ZERO


@dataclass(frozen=True)
class CountTimesUnit(Method):
    kind: ClassVar[str] = "count"
    points_per_unit: Decimal

    def check(self, maximum: Decimal, item: str) -> None:
        if self.points_per_unit <= 0:
            raise InvalidFramework("points_per_unit must be > 0", item=item,
                                   field="method.points_per_unit")

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        _only_keys(declared, {"count"}, item)
        return {"count": _count(declared, "count", item)}

    def points(self, declared: dict[str, Any], maximum: Decimal) -> Decimal:
        return min(maximum, round_points(self.points_per_unit * declared["count"]))

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "points_per_unit": str(self.points_per_unit)}


@dataclass(frozen=True)
class Proportional(Method):
    """max × min(1, ratio / full_at); `full_at` 0.3 means 30 % already earns the maximum."""

    kind: ClassVar[str] = "proportional"
    full_at: Decimal = Decimal(1)

    def check(self, maximum: Decimal, item: str) -> None:
        if not 0 < self.full_at <= 1:
            raise InvalidFramework("full_at must be in (0, 1]", item=item, field="method.full_at")

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        numerator, denominator = _ratio(declared, item)
        return {"numerator": numerator, "denominator": denominator}

    def points(self, declared: dict[str, Any], maximum: Decimal) -> Decimal:
        ratio = Decimal(declared["numerator"]) / Decimal(declared["denominator"])
        return min(maximum, round_points(maximum * min(Decimal(1), ratio / self.full_at)))

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "full_at": str(self.full_at)}


@dataclass(frozen=True)
class Band:
    lower_bound: Decimal
    points: Decimal


@dataclass(frozen=True)
class Tiered(Method):
    """Fixed points per band; `basis` "ratio" reads numerator/denominator as a percentage,
    "value" reads a declared number. The highest band whose lower bound the value reaches wins;
    below every band scores 0."""

    kind: ClassVar[str] = "tiered"
    basis: str
    bands: tuple[Band, ...]

    def check(self, maximum: Decimal, item: str) -> None:
        if self.basis not in ("ratio", "value"):
            raise InvalidFramework("tiered basis must be 'ratio' or 'value'", item=item,
                                   field="method.basis")
        if not self.bands:
            raise InvalidFramework("tiered method needs at least one band", item=item,
                                   field="method.bands")
        bounds = [band.lower_bound for band in self.bands]
        if bounds != sorted(bounds, reverse=True) or len(set(bounds)) != len(bounds):
            raise InvalidFramework("bands must be listed from the highest lower bound down, "
                                   "without repeats", item=item, field="method.bands")
        for band in self.bands:
            if band.points > maximum:
                raise InvalidFramework(f"band points {band.points} exceed the maximum {maximum}",
                                       item=item, field="method.bands")
        awarded = [band.points for band in self.bands]
        if awarded != sorted(awarded, reverse=True):
            raise InvalidFramework("a higher band must not award fewer points", item=item,
                                   field="method.bands")

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        if self.basis == "ratio":
            numerator, denominator = _ratio(declared, item)
            return {"numerator": numerator, "denominator": denominator}
        _only_keys(declared, {"value"}, item)
        return {"value": parse_decimal(declared["value"], field="declared.value", item=item)}

    def points(self, declared: dict[str, Any], maximum: Decimal) -> Decimal:
        if self.basis == "ratio":
            value = HUNDRED * Decimal(declared["numerator"]) / Decimal(declared["denominator"])
        else:
            value = Decimal(declared["value"])
        for band in self.bands:
            if value >= band.lower_bound:
                return band.points
        return ZERO

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "basis": self.basis,
                "bands": [{"from": str(b.lower_bound), "points": str(b.points)}
                          for b in self.bands]}


@dataclass(frozen=True)
class Level:
    code: str
    title: str
    share: Decimal


@dataclass(frozen=True)
class Levels(Method):
    """A qualitative level chosen from a list, each worth a share of the maximum."""

    kind: ClassVar[str] = "levels"
    levels: tuple[Level, ...]

    def check(self, maximum: Decimal, item: str) -> None:
        codes = [level.code for level in self.levels]
        if not codes:
            raise InvalidFramework("levels method needs at least one level", item=item,
                                   field="method.levels")
        if len(set(codes)) != len(codes):
            raise InvalidFramework("level codes must be unique", item=item, field="method.levels")
        for level in self.levels:
            if not 0 <= level.share <= 1:
                raise InvalidFramework(f"level {level.code} share must be in [0, 1]", item=item,
                                       field="method.levels")

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        _only_keys(declared, {"level"}, item)
        codes = [level.code for level in self.levels]
        if declared["level"] not in codes:
            raise InvalidInput(f"level {declared['level']!r} is not one of {codes}", item=item,
                               field="declared.level")
        return {"level": declared["level"]}

    def points(self, declared: dict[str, Any], maximum: Decimal) -> Decimal:
        share = next(lv.share for lv in self.levels if lv.code == declared["level"])
        return round_points(maximum * share)

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "levels": [
            {"code": lv.code, "title": lv.title, "share": str(lv.share)} for lv in self.levels]}


@dataclass(frozen=True)
class Deduction(Method):
    """Start at the maximum, subtract per violation, never below the floor."""

    kind: ClassVar[str] = "deduction"
    points_per_violation: Decimal
    floor: Decimal = ZERO

    def check(self, maximum: Decimal, item: str) -> None:
        if self.points_per_violation <= 0:
            raise InvalidFramework("points_per_violation must be > 0", item=item,
                                   field="method.points_per_violation")
        if self.floor > maximum:
            raise InvalidFramework(f"floor {self.floor} exceeds the maximum {maximum}", item=item,
                                   field="method.floor")

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        _only_keys(declared, {"violations"}, item)
        return {"violations": _count(declared, "violations", item)}

    def points(self, declared: dict[str, Any], maximum: Decimal) -> Decimal:
        return round_points(max(self.floor,
                                maximum - self.points_per_violation * declared["violations"]))

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "points_per_violation": str(self.points_per_violation),
                "floor": str(self.floor)}


@dataclass(frozen=True)
class Judgement(Method):
    """Points entered directly against the rubric text (no formula)."""

    kind: ClassVar[str] = "judgement"
    computes: ClassVar[bool] = False

    def normalise(self, declared: dict[str, Any], item: str) -> dict[str, Any]:
        if declared:
            raise InvalidInput("this item takes no declared values, only points", item=item,
                               field="declared")
        return {}


SURVEY_INSTRUMENTS = ("SIPAS", "KSCB")


@dataclass(frozen=True)
class SurveyFed(Method):
    """Filled from a survey import; never self-scored."""

    kind: ClassVar[str] = "survey"
    computes: ClassVar[bool] = False
    survey_fed: ClassVar[bool] = True
    instrument: str

    def check(self, maximum: Decimal, item: str) -> None:
        if self.instrument not in SURVEY_INSTRUMENTS:
            raise InvalidFramework(f"survey instrument must be one of {SURVEY_INSTRUMENTS}",
                                   item=item, field="method.instrument")

    def document(self) -> dict[str, Any]:
        return {"kind": self.kind, "instrument": self.instrument}


def _dec(spec: dict[str, Any], key: str, item: str, default: str | None = None) -> Decimal:
    if key not in spec:
        if default is None:
            raise InvalidFramework(f"method.{key} is missing", item=item, field=f"method.{key}")
        return Decimal(default)
    try:
        return parse_decimal(spec[key], field=f"method.{key}", item=item)
    except InvalidInput as error:
        raise InvalidFramework(error.message, item=item, field=error.field) from None


def _points(spec: dict[str, Any], key: str, item: str) -> Decimal:
    try:
        return parse_points(spec.get(key), field=key, item=item)
    except InvalidInput as error:
        raise InvalidFramework(error.message, item=item, field=f"method.{key}") from None


def parse_method(spec: object, maximum: Decimal, item: str) -> Method:
    """Build and check the method of one item from its framework-document form."""
    if not isinstance(spec, dict) or not isinstance(spec.get("kind"), str):
        raise InvalidFramework("method must be an object with a 'kind'", item=item, field="method")
    kind = spec["kind"]
    method: Method
    if kind == "boolean":
        method = YesNo()
    elif kind == "count":
        method = CountTimesUnit(_dec(spec, "points_per_unit", item))
    elif kind == "proportional":
        method = Proportional(_dec(spec, "full_at", item, default="1"))
    elif kind == "tiered":
        raw_bands = spec.get("bands")
        if not isinstance(raw_bands, list):
            raise InvalidFramework("tiered method needs a list of bands", item=item,
                                   field="method.bands")
        bands = tuple(Band(_dec(b, "from", item), _points(b, "points", item))
                      if isinstance(b, dict) else _bad_band(item) for b in raw_bands)
        method = Tiered(str(spec.get("basis", "ratio")), bands)
    elif kind == "levels":
        raw_levels = spec.get("levels")
        if not isinstance(raw_levels, list):
            raise InvalidFramework("levels method needs a list of levels", item=item,
                                   field="method.levels")
        method = Levels(tuple(
            Level(_level_code(lv, item), str(lv.get("title", "")), _dec(lv, "share", item))
            if isinstance(lv, dict) else _bad_band(item) for lv in raw_levels))
    elif kind == "deduction":
        method = Deduction(_dec(spec, "points_per_violation", item),
                           _points(spec, "floor", item) if "floor" in spec else CENT * 0)
    elif kind == "judgement":
        method = Judgement()
    elif kind == "survey":
        method = SurveyFed(str(spec.get("instrument", "")))
    else:
        raise InvalidFramework(f"unknown scoring method {kind!r}", item=item, field="method.kind")
    method.check(maximum, item)
    return method


def _level_code(level: dict[str, Any], item: str) -> str:
    code = level.get("code")
    if not isinstance(code, str) or not code.strip():
        raise InvalidFramework("each level needs a non-empty code", item=item,
                               field="method.levels")
    return code.strip()


def _bad_band(item: str) -> Any:
    raise InvalidFramework("each band or level must be an object", item=item, field="method")
