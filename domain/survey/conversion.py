"""From rows to per-unit results: integer tallies while the file streams, exact fractions at
the end (no float ever touches a point).

Microdata: per (unit, stratum) the count of each answer 1–5 (and of missing answers) per
question, and per item the distribution of (valid answers, their sum) per respondent — enough for
both methods, exactly, in memory that does not grow with the number of respondents. Respondent
ids are checked for duplicates with a fixed-size bitmap of their hashes; the few ids whose bit
was already set are confirmed exactly in a second pass over the ids, which the first pass
spilled to a temporary file (`confirm_duplicates`).

Aggregates: one row per unit and indicator with n and a satisfied share or a mean.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from operator import add, itemgetter
from typing import Any

from domain.framework.structure import FrameworkTree
from domain.points import round_points
from domain.survey.errors import MAX_LISTED, fault
from domain.survey.mapping import MappingSpec, norm

SCALE: dict[str, int] = {str(v): v for v in range(1, 6)} | {f"{v}.0": v for v in range(1, 6)}
SATISFIED = (4, 5)
WIDTH = 6  # per question: slot 0 = missing, slots 1–5 = the answers
BITMAP_BYTES = 1 << 22  # 32 Mi bits: a fixed 4 MiB, however many respondents
INDEX_PLACES = 4
RESPONSES, AGGREGATES = "responses", "aggregates"
FORMS = (RESPONSES, AGGREGATES)


class Listing:
    """A capped list with a complete count (faults, rows set aside)."""

    def __init__(self) -> None:
        self.listed: list[dict[str, Any]] = []
        self.count = 0

    def add(self, item: dict[str, Any]) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(item)

    def sorted(self) -> list[dict[str, Any]]:
        return sorted(self.listed, key=lambda f: (f.get("row") or 0, f.get("column") or ""))


@dataclass(frozen=True)
class UnitScope:
    """The cycle's units as an import sees them."""

    covered: dict[str, str]  # unit code → group, groups scored with the mapping's framework
    others: dict[str, str]  # enrolled units of other groups → group
    framework_code: str

    def unknown(self, code: str) -> str:
        hint = next((c for c in (*self.covered, *self.others) if c.casefold() == code.casefold()),
                    None)
        return (f"unit {code!r} is not enrolled in this cycle"
                + (f" (did you mean {hint}?)" if hint else ""))

    def elsewhere(self, code: str) -> str:
        return (f"unit {code} is in group {self.others[code]}, which the mapping's framework "
                f"{self.framework_code} does not score")


@dataclass
class ItemOutcome:
    unit_code: str
    item_code: str
    n: int
    index: Decimal | None
    points: Decimal | None
    sufficient: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return {"unit_code": self.unit_code, "item_code": self.item_code, "n": self.n,
                "index": None if self.index is None else str(self.index),
                "points": None if self.points is None else str(self.points),
                "status": "ok" if self.sufficient else "insufficient_sample",
                "detail": self.detail}


def clean(text: str) -> str:
    """`norm` for the hot path: NFC only when the text is not ASCII."""
    return text.strip() if text.isascii() else norm(text)


def _getter(positions: tuple[int, ...]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A C-level getter returning a sequence: a slice when the positions are contiguous."""
    if positions == tuple(range(positions[0], positions[0] + len(positions))):
        return itemgetter(slice(positions[0], positions[0] + len(positions)))
    return itemgetter(*positions)  # two or more positions: a tuple


# -- headers ----------------------------------------------------------------------------------

def resolve_header(cells: list[str], wanted: dict[str, str], spec: MappingSpec,
                   faults: Listing, number: int, optional: Iterable[str] = ()
                   ) -> dict[str, int]:
    """Positions of the wanted columns (code → index). Faults: duplicate headers, unknown
    columns (form drift, labels instead of codes), missing columns (except `optional` ones)."""
    optional = frozenset(optional)
    positions: dict[str, int] = {}
    seen: dict[str, int] = {}
    unknown: list[str] = []
    for index, raw in enumerate(cells):
        header = norm(raw)
        if not header:
            continue
        if header in seen:
            faults.add(fault("duplicate-column", f"column {header!r} appears twice (columns "
                             f"{seen[header] + 1} and {index + 1})", row=number, column=header))
            continue
        seen[header] = index
        code = header if header in wanted else header.rsplit("/", 1)[-1]
        if code in wanted:
            if code in positions:
                faults.add(fault("duplicate-column", f"two columns carry code {code!r}",
                                 row=number, column=header))
            positions[code] = index
        elif not spec.ignored(header):
            unknown.append(header)
    for header in unknown:
        faults.add(fault("unknown-column", f"unknown column {header!r}: not a "
                         f"{'question' if spec.questions else 'column'} of mapping {spec.code} "
                         "(a changed form version? list it in the mapping's questions or "
                         "ignore_columns)", row=number, column=header))
    missing = [code for code in wanted if code not in positions and code not in optional]
    for code in missing:
        faults.add(fault("missing-column", f"the {wanted[code]} column {code!r} is missing",
                         row=number, column=code))
    if missing and len(missing) == len(wanted) - len(optional & set(wanted)):
        faults.add(fault("no-header", "the first row is not a header of question codes: none "
                         "of the expected columns is there (export codes / XML values, not "
                         "labels)", row=number))
    return positions


def _aside(number: int, reason: str, **extra: Any) -> dict[str, Any]:
    return {"row": number, **extra, "reason": reason}


# -- microdata --------------------------------------------------------------------------------

class ResponseTally:
    """One respondent per row: respondent id, unit code, optional stratum, answers 1–5.

    The hot path only increments flat integer lists: per unit and stratum, one slot per
    question and answer, and one per item and (valid answers, their sum)."""

    def __init__(self, spec: MappingSpec, scope: UnitScope, faults: Listing,
                 pad_short_rows: bool = False):
        self.spec = spec
        self.scope = scope
        self.faults = faults
        self.pad = pad_short_rows  # XLSX rows stop at their last non-empty cell
        self.set_aside = Listing()
        self.rows_read = 0
        self.rows_used = 0
        self.questions = spec.questions
        positions = [tuple(self.questions.index(q) for q in rule.questions)
                     for rule in spec.items]
        self.item_getters = [_getter(p) for p in positions]
        longest = max(len(p) for p in positions)
        self.k_span = longest + 1  # valid answers 0..longest
        self.s_span = 5 * longest + 1  # their sum 0..5·longest
        self.question_stride = WIDTH * len(self.questions)
        self.item_stride = len(spec.items) * self.k_span * self.s_span
        self.lookup = {**{m: 0 for m in spec.missing_values}, **SCALE}
        # Flat counters, one block per (unit, stratum), grown as keys appear:
        self.counts: list[int] = []  # key·stride + question·WIDTH + answer → respondents
        self.pair_counts: list[int] = []  # key·stride + (item·K + valid)·S + sum → count
        self.keys: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        self.key_names: list[tuple[str, str]] = []
        self.bits = bytearray(BITMAP_BYTES)
        self.mask = BITMAP_BYTES * 8 - 1
        self.suspect_slots: set[int] = set()
        # Every respondent id with its row, spilled to a temporary file (disk, not memory) for
        # the exact duplicate check; closed by `close`.
        self.spill = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.missing = spec.missing_values
        self.ready = False

    def wanted(self) -> dict[str, str]:
        columns = self.spec.columns
        wanted = {str(columns["respondent"]): "respondent id", str(columns["unit"]): "unit code"}
        if columns["stratum"]:
            wanted[str(columns["stratum"])] = "stratum"
        for question in self.questions:
            wanted.setdefault(question, "question")
        return wanted

    def header(self, number: int, cells: list[str]) -> None:
        wanted = self.wanted()
        positions = resolve_header(cells, wanted, self.spec, self.faults, number)
        if len(positions) < len(wanted):
            return
        columns = self.spec.columns
        self.width = len(cells)
        self.respondent_at = positions[str(columns["respondent"])]
        self.unit_at = positions[str(columns["unit"])]
        self.stratum_at = positions[str(columns["stratum"])] if columns["stratum"] else None
        self.question_at = [positions[q] for q in self.questions]
        self.answers_of = _getter(tuple(self.question_at))
        self.ready = True

    def _key(self, unit: str, stratum: str) -> tuple[list[int], list[int]]:
        index = len(self.key_names)
        self.key_names.append((unit, stratum))
        self.counts.extend([0] * self.question_stride)
        self.pair_counts.extend([0] * self.item_stride)
        base_q = index * self.question_stride
        base_i = index * self.item_stride
        state = ([base_q + q * WIDTH for q in range(len(self.questions))],
                 [base_i + i * self.k_span * self.s_span for i in range(len(self.spec.items))])
        self.keys[(unit, stratum)] = state
        return state

    def consume(self, rows: Iterable[tuple[int, list[str]]]) -> None:
        """Every data row. Clean rows (the usual case) are counted here with everything in
        local variables; any other row goes through `add`, which checks and reports it."""
        width, respondent_at, unit_at = self.width, self.respondent_at, self.unit_at
        stratum_at, weights = self.stratum_at, self.spec.stratum_weights
        covered, keys, new_key = self.scope.covered, self.keys, self._key
        answers_of, get = self.answers_of, self.lookup.get
        bits, mask, suspects = self.bits, self.mask, self.suspect_slots
        spill = self.spill.write
        counts, pair_counts, span = self.counts, self.pair_counts, self.s_span
        getters = self.item_getters
        read = used = 0
        for number, cells in rows:
            if len(cells) != width:
                self.add(number, cells)
                continue
            respondent = cells[respondent_at]
            unit = cells[unit_at]
            if not respondent.isascii() or unit not in covered:
                self.add(number, cells)
                continue
            respondent = respondent.strip()
            stratum = ""
            if stratum_at is not None:
                stratum = cells[stratum_at]
                if (stratum not in weights) if weights else not stratum.isascii():
                    self.add(number, cells)
                    continue
                stratum = stratum.strip()
            values = list(map(get, answers_of(cells)))
            if (not respondent or None in values or not any(values) or "\n" in respondent
                    or "\r" in respondent):
                self.add(number, cells)
                continue
            read += 1
            used += 1
            spill(f"{number}\t{respondent}\n")
            slot = hash(respondent) & mask
            byte, bit = slot >> 3, 1 << (slot & 7)
            if bits[byte] & bit:
                suspects.add(slot)
            else:
                bits[byte] |= bit
            question_slots, item_slots = keys.get((unit, stratum)) or new_key(unit, stratum)
            for slot in map(add, question_slots, values):
                counts[slot] += 1
            for base, getter in zip(item_slots, getters, strict=True):
                part = getter(values)
                pair_counts[base + (len(part) - part.count(0)) * span + sum(part)] += 1
        self.rows_read += read
        self.rows_used += used

    def add(self, number: int, cells: list[str]) -> None:
        if len(cells) != self.width:
            if len(cells) < self.width and self.pad:
                cells = cells + [""] * (self.width - len(cells))
            elif len(cells) < self.width:
                if not any(c.strip() for c in cells):
                    return  # a blank line
                self.rows_read += 1
                self.faults.add(fault("ragged-row", f"the row has {len(cells)} cells, the "
                                      f"header {self.width}", row=number))
                return
            elif any(c.strip() for c in cells[self.width:]):
                self.rows_read += 1
                self.faults.add(fault("ragged-row", f"the row has values beyond the header's "
                                      f"{self.width} columns", row=number))
                return
        if not any(cells):
            return
        self.rows_read += 1
        faults_before = self.faults.count
        respondent = clean(cells[self.respondent_at])
        if not respondent:
            self.faults.add(fault("missing-respondent", "the respondent id is empty",
                                  row=number, column=self.spec.columns["respondent"]))
        elif "\n" in respondent or "\r" in respondent:
            self.faults.add(fault("bad-respondent", "the respondent id holds a line break",
                                  row=number, column=self.spec.columns["respondent"]))
        else:
            self.spill.write(f"{number}\t{respondent}\n")
            slot = hash(respondent) & self.mask
            byte, bit = slot >> 3, 1 << (slot & 7)
            if self.bits[byte] & bit:
                self.suspect_slots.add(slot)
            else:
                self.bits[byte] |= bit
        unit = cells[self.unit_at]
        aside = None
        if unit not in self.scope.covered:
            unit = clean(unit)
            if unit in self.scope.covered:
                pass
            elif unit in self.scope.others:
                aside = self.scope.elsewhere(unit)
            elif not unit:
                self.faults.add(fault("missing-unit", "the unit code is empty", row=number,
                                      column=self.spec.columns["unit"]))
            else:
                self.faults.add(fault("unknown-unit", self.scope.unknown(unit), row=number,
                                      column=self.spec.columns["unit"]))
        stratum = ""
        if self.stratum_at is not None:
            stratum = cells[self.stratum_at]
            weights = self.spec.stratum_weights
            if weights and stratum not in weights:
                stratum = clean(stratum)
                if stratum not in weights:
                    self.faults.add(fault("unknown-stratum", f"stratum {stratum!r} has no "
                                          f"weight in the mapping ({', '.join(sorted(weights))})",
                                          row=number, column=self.spec.columns["stratum"]))
            elif not weights:
                stratum = clean(stratum)
        raw = self.answers_of(cells)
        values = list(map(self.lookup.get, raw))
        if None in values:
            for index, value in enumerate(values):
                if value is None:
                    values[index] = self._answer(raw[index], index, number)
        if self.faults.count != faults_before:
            return
        if aside is not None:
            self.set_aside.add(_aside(number, aside, respondent_id=respondent, unit_code=unit))
            return
        if not any(values):
            self.set_aside.add(_aside(number, "no valid answer to any mapped question (all "
                                      "blank or \"don't know\")", respondent_id=respondent,
                                      unit_code=unit))
            return
        self.rows_used += 1
        state = self.keys.get((unit, stratum)) or self._key(unit, stratum)
        question_slots, item_slots = state
        counts = self.counts
        for slot in map(add, question_slots, values):
            counts[slot] += 1
        pair_counts = self.pair_counts
        span = self.s_span
        for base, getter in zip(item_slots, self.item_getters, strict=True):
            part = getter(values)
            pair_counts[base + (len(part) - part.count(0)) * span + sum(part)] += 1

    def _answer(self, raw: str, index: int, number: int) -> int:
        key = norm(raw).lower()
        value = SCALE.get(key)
        if value is not None:
            return value
        if key in self.missing:
            return 0
        self.faults.add(fault("off-scale", f"{raw.strip()!r} is not an answer on the 1–5 "
                              "scale nor a \"don't know\"/blank (export codes, not labels)",
                              row=number, column=self.questions[index]))
        return 0

    def confirm_duplicates(self) -> None:
        """Second pass, over the spilled ids and only if some ids shared a bitmap slot: find
        the true duplicates exactly and report every repeated row."""
        if not self.suspect_slots:
            return
        first: dict[str, int] = {}
        mask, suspects = self.mask, self.suspect_slots
        self.spill.flush()
        self.spill.seek(0)
        for line in self.spill:
            number, _, respondent = line[:-1].partition("\t")
            if (hash(respondent) & mask) not in suspects:
                continue
            if respondent in first:
                self.faults.add(fault("duplicate-respondent", f"respondent id {respondent!r} "
                                      f"already appears in row {first[respondent]}",
                                      row=int(number), column=self.spec.columns["respondent"]))
            else:
                first[respondent] = int(number)

    def close(self) -> None:
        self.spill.close()

    def outcomes(self, tree: FrameworkTree) -> list[ItemOutcome]:
        strata_of: dict[str, list[tuple[str, int]]] = {}
        for index, (unit, stratum) in enumerate(self.key_names):
            strata_of.setdefault(unit, []).append((stratum, index))
        out = []
        for unit in sorted(self.scope.covered):
            keys = sorted(strata_of.get(unit, ()))
            for item_index in range(len(self.spec.items)):
                out.append(self._outcome(tree, unit, keys, item_index))
        return out

    def _outcome(self, tree: FrameworkTree, unit: str, keys: list[tuple[str, int]],
                 item_index: int) -> ItemOutcome:
        rule = self.spec.items[item_index]
        node = tree.item(rule.item_code)
        weights = self.spec.stratum_weights
        weight = [Fraction(weights[s]) for s, _ in keys] if weights else None
        block = self.k_span * self.s_span
        pair_blocks = [self.pair_counts[k * self.item_stride + item_index * block:
                                        k * self.item_stride + (item_index + 1) * block]
                       for _, k in keys]
        n_by_stratum = [sum(b[self.s_span:]) for b in pair_blocks]  # one valid answer or more
        n = sum(n_by_stratum)
        questions: dict[str, Any] = {}
        shares: list[tuple[str, Fraction]] = []
        for question in rule.questions:
            q = self.questions.index(question)
            slices = [self.counts[k * self.question_stride + q * WIDTH:
                                  k * self.question_stride + (q + 1) * WIDTH] for _, k in keys]
            answers = ([sum(column) for column in zip(*slices, strict=True)] if slices
                       else [0] * WIDTH)
            valid = sum(answers[1:])
            satisfied = sum(answers[v] for v in SATISFIED)
            entry: dict[str, Any] = {"answers": {str(v): answers[v] for v in range(1, 6)},
                                     "missing": answers[0], "valid": valid,
                                     "satisfied": satisfied}
            if weight is None:
                share = Fraction(satisfied, valid) if valid else None
            else:
                numerator = sum((w * sum(c[v] for v in SATISFIED)
                                 for w, c in zip(weight, slices, strict=True)), Fraction(0))
                denominator = sum((w * sum(c[1:]) for w, c in zip(weight, slices, strict=True)),
                                  Fraction(0))
                share = numerator / denominator if denominator else None
            if share is not None:
                entry["satisfied_share"] = str(rounded(share, INDEX_PLACES))
                shares.append((question, share))
            questions[question] = entry
        detail: dict[str, Any] = {"method": rule.method, "n": n,
                                  "min_valid_n": self.spec.min_valid_n,
                                  "max_points": str(node.max_points), "questions": questions}
        if weights:
            detail["stratum_weights"] = {s: str(weights[s]) for s, _ in keys}
            detail["strata_n"] = {s: count for (s, _), count in zip(keys, n_by_stratum,
                                                                    strict=True)}
        index: Fraction | None = None
        weighted = ", weighted by stratum" if weights else ""
        formula = "no valid answer: no index"
        if rule.method == "satisfied_share":
            if shares:
                index = sum((share for _, share in shares), Fraction(0)) / len(shares)
                parts = ", ".join(f"{q} {questions[q]['satisfied']}/{questions[q]['valid']}"
                                  if not weights else f"{q} {questions[q]['satisfied_share']}"
                                  for q, _ in shares)
                formula = (f"index = mean over {len(shares)} question(s) of the share of valid "
                           f"answers that are 4 or 5{weighted} ({parts})")
        else:
            mass = Fraction(0)
            total = Fraction(0)
            for position, counts in enumerate(pair_blocks):
                w = weight[position] if weight is not None else 1
                for slot in range(self.s_span, block):
                    count = counts[slot]
                    if count:
                        valid, answer_sum = divmod(slot, self.s_span)
                        mass += w * count
                        total += w * count * Fraction(answer_sum, valid)
            if mass:
                mean = total / mass
                index = (mean - 1) / 4
                detail["mean"] = str(rounded(mean, 6))
                formula = (f"index = (mean − 1) / 4, mean = {detail['mean']} = the mean over "
                           f"{n} respondents{weighted} of each respondent's mean valid answer "
                           f"to {', '.join(rule.questions)}")
        return _finish(unit, node.max_points, rule.item_code, n, index, formula, detail,
                       self.spec.min_valid_n)


def rounded(value: Fraction, places: int) -> Decimal:
    """Half-up rounding of a non-negative fraction to `places` decimals, exactly."""
    scale = 10 ** places
    units = (value.numerator * scale * 2 + value.denominator) // (2 * value.denominator)
    exponent = Decimal(1).scaleb(-places)
    return Decimal(units).scaleb(-places).quantize(exponent)


def _finish(unit: str, maximum: Decimal, item: str, n: int, index: Fraction | None,
            formula: str, detail: dict[str, Any], min_n: int) -> ItemOutcome:
    index_4 = None if index is None else rounded(min(max(index, Fraction(0)), Fraction(1)),
                                                 INDEX_PLACES)
    points = None if index_4 is None else round_points(maximum * index_4)
    if index_4 is not None:
        formula += (f" = {index_4} (4 decimals, half-up); points = {maximum} × {index_4} = "
                    f"{points} (2 decimals, half-up)")
    sufficient = index_4 is not None and n >= min_n
    if not sufficient:
        formula += f"; n = {n} is below the minimum valid sample {min_n}: no points until " \
                   "the secretariat decides"
    detail.update({"index": None if index_4 is None else str(index_4),
                   "points": None if points is None else str(points), "formula": formula})
    return ItemOutcome(unit, item, n, index_4, points, sufficient, detail)


# -- aggregates -------------------------------------------------------------------------------

def parse_share(raw: str) -> Fraction | None:
    """0.8734, 0,8734 or 87.34% → a fraction in [0, 1]; None if not such a number."""
    text = norm(raw).replace(" ", "")
    percent = text.endswith("%")
    if percent:
        text = text[:-1]
    value = _number(text)
    if value is None:
        return None
    if percent:
        value /= 100
    return value if 0 <= value <= 1 else None


def _number(text: str) -> Fraction | None:
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        value = Fraction(Decimal(text))
    except (ArithmeticError, ValueError):
        return None
    return value


class AggregateTally:
    """One row per unit and indicator: unit, indicator, n, satisfied share or mean (1–5)."""

    def __init__(self, spec: MappingSpec, scope: UnitScope, faults: Listing):
        self.spec = spec
        self.scope = scope
        self.faults = faults
        self.set_aside = Listing()
        self.rows_read = 0
        self.rows_used = 0
        self.methods = {}
        for rule in spec.items:
            for indicator in rule.indicators:
                self.methods.setdefault(indicator, set()).add(rule.method)
        self.values: dict[tuple[str, str], dict[str, Any]] = {}
        self.ready = False

    def wanted(self) -> dict[str, str]:
        c = self.spec.aggregate_columns
        return {c["unit"]: "unit code", c["indicator"]: "indicator", c["n"]: "n"}

    def header(self, number: int, cells: list[str]) -> None:
        columns = self.spec.aggregate_columns
        wanted = self.wanted()
        optional = {columns["share"]: "satisfied share", columns["mean"]: "mean"}
        positions = resolve_header(cells, {**wanted, **optional}, self.spec, self.faults,
                                   number, optional=optional)
        if any(code not in positions for code in wanted):
            return
        self.width = len(cells)
        self.at = {key: positions.get(name) for key, name in columns.items()}
        needed = {m for methods in self.methods.values() for m in methods}
        for method, key in (("satisfied_share", "share"), ("rescaled_mean", "mean")):
            if method in needed and self.at[key] is None:
                self.faults.add(fault("missing-column", f"the {key} column {columns[key]!r} "
                                      f"is missing (method {method})", row=number,
                                      column=columns[key]))
                return
        self.ready = True

    def _cell(self, cells: list[str], key: str) -> str:
        position = self.at[key]
        return norm(cells[position]) if position is not None and position < len(cells) else ""

    def add(self, number: int, cells: list[str]) -> None:
        if not any(c.strip() for c in cells):
            return
        self.rows_read += 1
        if len(cells) > self.width and any(c.strip() for c in cells[self.width:]):
            self.faults.add(fault("ragged-row", f"the row has values beyond the header's "
                                  f"{self.width} columns", row=number))
            return
        columns = self.spec.aggregate_columns
        before = self.faults.count
        unit = self._cell(cells, "unit")
        indicator = self._cell(cells, "indicator")
        aside = None
        if unit not in self.scope.covered:
            if unit in self.scope.others:
                aside = self.scope.elsewhere(unit)
            else:
                self.faults.add(fault("unknown-unit", self.scope.unknown(unit) if unit else
                                      "the unit code is empty", row=number,
                                      column=columns["unit"]))
        if indicator not in self.methods:
            self.faults.add(fault("unknown-indicator", f"unknown indicator {indicator!r}: not "
                                  f"in mapping {self.spec.code} ({', '.join(self.methods)})",
                                  row=number, column=columns["indicator"]))
        raw_n = self._cell(cells, "n")
        n_value = _number(raw_n)
        if n_value is None or n_value < 0 or n_value.denominator != 1:
            self.faults.add(fault("bad-n", f"n {raw_n!r} is not a whole number ≥ 0",
                                  row=number, column=columns["n"]))
        values: dict[str, Fraction] = {}
        for key, method in (("share", "satisfied_share"), ("mean", "rescaled_mean")):
            raw = self._cell(cells, key)
            if not raw:
                if method in self.methods.get(indicator, ()) and n_value:
                    self.faults.add(fault("missing-value", f"indicator {indicator} needs a "
                                          f"{columns[key]} value", row=number,
                                          column=columns[key]))
                continue
            value = parse_share(raw) if key == "share" else _number(raw)
            if value is None or (key == "mean" and not 1 <= value <= 5):
                expected = ("a share between 0 and 1 (or a percentage with %)"
                            if key == "share" else "a mean between 1 and 5")
                self.faults.add(fault("off-scale", f"{raw!r} is not {expected}", row=number,
                                      column=columns[key]))
                continue
            values[key] = value
        if self.faults.count != before:
            return
        if aside is not None:
            self.set_aside.add(_aside(number, aside, unit_code=unit, indicator=indicator))
            return
        pair = (unit, indicator)
        if pair in self.values:
            self.faults.add(fault("duplicate-row", f"unit {unit}, indicator {indicator} "
                                  f"already has row {self.values[pair]['row']}", row=number,
                                  column=columns["indicator"]))
            return
        assert n_value is not None
        self.values[pair] = {"row": number, "n": int(n_value), **values}
        self.rows_used += 1

    def check_complete(self) -> None:
        """A unit in the file has a row for every indicator of the mapping."""
        units = sorted({unit for unit, _ in self.values})
        for unit in units:
            for rule in self.spec.items:
                for indicator in rule.indicators:
                    if (unit, indicator) not in self.values:
                        self.faults.add(fault("missing-row", f"unit {unit} has no row for "
                                              f"indicator {indicator} (item {rule.item_code})",
                                              column=self.spec.aggregate_columns["indicator"]))

    def outcomes(self, tree: FrameworkTree) -> list[ItemOutcome]:
        out = []
        for unit in sorted(self.scope.covered):
            for rule in self.spec.items:
                out.append(self._outcome(tree, unit, rule))
        return out

    def _outcome(self, tree: FrameworkTree, unit: str, rule: Any) -> ItemOutcome:
        node = tree.item(rule.item_code)
        rows = [(i, self.values[(unit, i)]) for i in rule.indicators
                if (unit, i) in self.values]
        key = "share" if rule.method == "satisfied_share" else "mean"
        used = [(i, v) for i, v in rows if key in v and v["n"] > 0]
        n = min((v["n"] for _, v in rows), default=0)
        indicators = {i: {"row": v["row"], "n": v["n"],
                          **({"satisfied_share": str(rounded(v["share"], 6))}
                             if "share" in v else {}),
                          **({"mean": str(rounded(v["mean"], 6))} if "mean" in v else {})}
                      for i, v in rows}
        detail: dict[str, Any] = {"method": rule.method, "n": n,
                                  "min_valid_n": self.spec.min_valid_n,
                                  "max_points": str(node.max_points), "indicators": indicators}
        index: Fraction | None = None
        formula = "no row with n > 0 for this unit: no index"
        if used:
            mean = sum((v[key] for _, v in used), Fraction(0)) / len(used)
            shown = "satisfied_share" if key == "share" else "mean"
            parts = ", ".join(f"{i} {indicators[i][shown]} (row {v['row']})" for i, v in used)
            if key == "share":
                index = mean
                formula = (f"index = mean of the indicators' satisfied shares ({parts}); "
                           "n = the smallest n of the unit's indicator rows")
            else:
                index = (mean - 1) / 4
                formula = (f"index = (mean − 1) / 4, mean = mean of the indicators' means "
                           f"({parts}) = {rounded(mean, 6)}; n = the smallest n of the unit's "
                           "indicator rows")
        return _finish(unit, node.max_points, rule.item_code, n, index, formula, detail,
                       self.spec.min_valid_n)


# -- traces -----------------------------------------------------------------------------------

def trace_rows(rows: Iterable[tuple[int, list[str]]], spec: MappingSpec, form: str,
               unit_code: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The file's rows of one unit, as the import read them (for audits): at most `limit`,
    with the total count."""
    listed: list[dict[str, Any]] = []
    total = 0
    positions: dict[str, int] | None = None
    if form == RESPONSES:
        names = {"respondent": str(spec.columns["respondent"]), "unit": str(spec.columns["unit"])}
        if spec.columns["stratum"]:
            names["stratum"] = str(spec.columns["stratum"])
        wanted = {**{v: k for k, v in names.items()}, **{q: "question" for q in spec.questions}}
    else:
        names = dict(spec.aggregate_columns)
        wanted = {v: k for k, v in names.items()}
    for number, cells in rows:
        if positions is None:
            if any(c.strip() for c in cells):
                positions = resolve_header(cells, wanted, spec, Listing(), number)
            continue
        unit_at = positions.get(names["unit"])
        if unit_at is None or unit_at >= len(cells) or norm(cells[unit_at]) != unit_code:
            continue
        total += 1
        if len(listed) < limit:
            entry: dict[str, Any] = {"row": number}
            for key, column in names.items():
                if column in positions and positions[column] < len(cells):
                    entry[key] = norm(cells[positions[column]])
            if form == RESPONSES:
                entry["answers"] = {q: norm(cells[positions[q]]) for q in spec.questions
                                    if q in positions and positions[q] < len(cells)}
            listed.append(entry)
    return listed, total
