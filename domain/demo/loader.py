"""`load_demo`: one realistic province (Khánh Hòa), two assessment years, loaded through the API.

Why through `ParIndex` commands only: the demo then holds exactly the events real use writes
(the projections, the audit trail and the API see nothing special), and loading it exercises the
whole workflow end to end. The deadlines lie in the past, so the loader drives a simulated clock
along the provincial calendar of PAR-INDEX.md §1.2 and gives the application its own clock back
at the end.

The data is pseudo-random but deterministic (`random.Random` seeded per year, integers only, no
floats) and tells a few stories worth looking at in the current year: an exact tie, a unit locked
at the deadline as it stood, a deadline extension, an evaluated-only unit, explanations that
restore points in round 2, a bonus above the cap, a survey sample below the minimum, and a
correction after publication under a PPC decision.

Simplification: both years use one list of units (the 2025 mergers of departments and communes
are not modelled, except Ban Dân tộc becoming Sở Dân tộc và Tôn giáo) so that year-on-year
columns are filled.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from importlib import resources
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.actors import Actor, Role
from domain.application import ParIndex
from domain.cycle.phases import Phase
from domain.errors import AlreadyExists
from domain.framework.structure import FrameworkTree, Node
from domain.points import ZERO, round_points
from domain.scorecard.model import AppraisalEntry, Scorecard, SelfScoreEntry
from domain.scorecard.state import Decision, Status
from domain.scoring import ScoreSheet

PROVINCE = "Khánh Hòa"
YEARS = (2024, 2025)
CURRENT_YEAR = YEARS[-1]
GROUPS = {"SO": "Khối sở, ban, ngành tỉnh", "XA": "Khối UBND xã, phường"}

SECRETARIAT = Actor("snv.phong-cchc", Role.SECRETARIAT)
AUTO_LOCK = Actor("he-thong.khoa-tu-dong", Role.SYSTEM)
COUNCIL = Actor("hdtd.chu-tich-hoi-dong", Role.COUNCIL)
APPRAISERS = {
    "SO": (Actor("tgv.tran-thi-thu-ha", Role.APPRAISER),
           Actor("tgv.nguyen-van-minh", Role.APPRAISER)),
    "XA": (Actor("tgv.le-quoc-bao", Role.APPRAISER),
           Actor("tgv.pham-thi-ngoc-anh", Role.APPRAISER)),
}


@dataclass(frozen=True)
class DemoUnit:
    """A unit and the facts about it that decide its "not applicable" items."""

    code: str
    name: str
    group: str
    ranked: bool = True
    years: tuple[int, ...] = YEARS
    drafts_laws: bool = True  # is given legal documents to draft (SO 2.1 applies)
    invests: bool = True  # is allocated public investment capital (SO 6.1 applies)


def _so(code: str, name: str, **facts: Any) -> DemoUnit:
    return DemoUnit(code, name, "SO", **facts)


def _xa(code: str, name: str) -> DemoUnit:
    return DemoUnit(code, name, "XA")


UNITS: tuple[DemoUnit, ...] = (
    _so("STC", "Sở Tài chính"),
    _so("SKHDT", "Sở Kế hoạch và Đầu tư"),
    _so("SNV", "Sở Nội vụ"),
    _so("STP", "Sở Tư pháp", invests=False),
    _so("SCT", "Sở Công Thương"),
    _so("SXD", "Sở Xây dựng"),
    _so("SGTVT", "Sở Giao thông vận tải"),
    _so("STNMT", "Sở Tài nguyên và Môi trường"),
    _so("SNNPTNT", "Sở Nông nghiệp và Phát triển nông thôn"),
    _so("SKHCN", "Sở Khoa học và Công nghệ"),
    _so("STTTT", "Sở Thông tin và Truyền thông"),
    _so("SGDDT", "Sở Giáo dục và Đào tạo"),
    _so("SYT", "Sở Y tế"),
    _so("SLDTBXH", "Sở Lao động - Thương binh và Xã hội"),
    _so("SVHTT", "Sở Văn hóa và Thể thao"),
    _so("SDL", "Sở Du lịch"),
    _so("SNGV", "Sở Ngoại vụ", drafts_laws=False, invests=False),
    _so("VPUBND", "Văn phòng UBND tỉnh"),
    _so("BQLKKT", "Ban Quản lý Khu kinh tế Vân Phong", drafts_laws=False),
    _so("BDT", "Ban Dân tộc", years=(2024,), invests=False),
    _so("SDTTG", "Sở Dân tộc và Tôn giáo", years=(2025,), invests=False),
    _so("TTT", "Thanh tra tỉnh", ranked=False, drafts_laws=False, invests=False),
    _xa("P-NHATRANG", "Phường Nha Trang"),
    _xa("P-BACNHATRANG", "Phường Bắc Nha Trang"),
    _xa("P-TAYNHATRANG", "Phường Tây Nha Trang"),
    _xa("P-NAMNHATRANG", "Phường Nam Nha Trang"),
    _xa("P-BACCAMRANH", "Phường Bắc Cam Ranh"),
    _xa("P-CAMRANH", "Phường Cam Ranh"),
    _xa("P-CAMLINH", "Phường Cam Linh"),
    _xa("P-BANGOI", "Phường Ba Ngòi"),
    _xa("P-NINHHOA", "Phường Ninh Hòa"),
    _xa("P-DONGNINHHOA", "Phường Đông Ninh Hòa"),
    _xa("P-HOATHANG", "Phường Hòa Thắng"),
    _xa("X-VANNINH", "Xã Vạn Ninh"),
    _xa("X-DAILANH", "Xã Đại Lãnh"),
    _xa("X-VANTHANG", "Xã Vạn Thắng"),
    _xa("X-TUBONG", "Xã Tu Bông"),
    _xa("X-DIENKHANH", "Xã Diên Khánh"),
    _xa("X-DIENLAC", "Xã Diên Lạc"),
    _xa("X-SUOIHIEP", "Xã Suối Hiệp"),
    _xa("X-CAMLAM", "Xã Cam Lâm"),
    _xa("X-SUOIDAU", "Xã Suối Dầu"),
    _xa("X-KHANHVINH", "Xã Khánh Vĩnh"),
    _xa("X-KHANHSON", "Xã Khánh Sơn"),
)


@dataclass(frozen=True)
class Adjustment:
    """A bonus or penalty entry (outside the 100-point base)."""

    unit: str
    points: str
    reason: str


@dataclass(frozen=True)
class Correction:
    unit: str
    item: str
    points: str
    reason: str
    decision_ref: str
    on: datetime


@dataclass(frozen=True)
class Story:
    """What is special about one year; everything else is drawn at random."""

    approval_ref: str
    publication_ref: str
    publication_date: date
    bonuses: tuple[Adjustment, ...]
    penalties: tuple[Adjustment, ...]
    locked_unit: str | None = None
    extension: tuple[str, datetime, str] | None = None  # unit, until, reason
    tie_group: str | None = None
    low_sample_unit: str | None = None
    forced: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    correction: Correction | None = None


STORIES = {
    2024: Story(
        approval_ref="Biên bản họp Hội đồng thẩm định số 01/BB-HĐTĐ ngày 11/02/2025",
        publication_ref="QĐ 412/QĐ-UBND",
        publication_date=date(2025, 2, 26),
        bonuses=(
            Adjustment("SNV", "1", "Đạt giải Nhất Hội thi tìm hiểu cải cách hành chính cấp tỉnh "
                                   "năm 2024"),
            Adjustment("P-NHATRANG", "0.5", "Mô hình “Bộ phận Một cửa thân thiện” được UBND tỉnh "
                                            "tặng Bằng khen"),
        ),
        penalties=(
            Adjustment("SGTVT", "1", "Để xảy ra sai phạm trong cấp giấy phép lái xe, bị Thanh tra "
                                     "tỉnh kết luận tại Kết luận số 09/KL-TTr"),
            Adjustment("X-TUBONG", "0.5", "Không tham dự Hội nghị tổng kết công tác CCHC năm 2024 "
                                          "mà không có lý do"),
        ),
    ),
    2025: Story(
        approval_ref="Biên bản họp Hội đồng thẩm định số 01/BB-HĐTĐ ngày 10/02/2026",
        publication_ref="QĐ 398/QĐ-UBND",
        publication_date=date(2026, 2, 25),
        bonuses=(
            Adjustment("STC", "1.5", "Đạt giải Nhất Hội thi “Cải cách hành chính – Chuyển đổi số” "
                                     "cấp tỉnh năm 2025"),
            Adjustment("STC", "1", "Sáng kiến “Một cửa số” được Bộ Nội vụ giới thiệu nhân rộng"),
            Adjustment("P-NHATRANG", "1", "Mô hình “Phường thân thiện, không hẹn lần hai” được "
                                          "UBND tỉnh khen thưởng"),
            Adjustment("X-DIENKHANH", "0.5", "Đạt giải Ba Hội thi tuyên truyền CCHC cấp tỉnh"),
        ),
        penalties=(
            Adjustment("SXD", "1", "Để xảy ra sai phạm trong giải quyết hồ sơ cấp phép xây dựng, "
                                   "bị Thanh tra tỉnh kết luận tại Kết luận số 15/KL-TTr"),
            Adjustment("P-BACCAMRANH", "0.5", "Không khắc phục tồn tại sau kiểm tra CCHC theo "
                                              "Thông báo số 412/TB-SNV"),
            Adjustment("X-VANTHANG", "0.75", "Công chức Bộ phận Một cửa gây phiền hà, bị phản ánh "
                                             "qua đường dây nóng và đã được xác minh"),
        ),
        locked_unit="X-KHANHSON",
        extension=("SGDDT", datetime(2025, 12, 22, 10, 0, tzinfo=UTC),
                   "Công văn số 3120/SGDĐT-VP ngày 12/12/2025 đề nghị gia hạn: công chức đầu mối "
                   "CCHC nghỉ chế độ thai sản, việc bàn giao chưa hoàn tất"),
        tie_group="SO",
        low_sample_unit="X-DAILANH",
        forced={("P-CAMRANH", "3.2"): {"numerator": 1183, "denominator": 1195}},
        correction=Correction(
            unit="P-CAMRANH", item="3.2", points="3",
            reason="Hệ thống thông tin giải quyết TTHC ghi nhận nhầm 12 hồ sơ trễ hạn do lỗi đồng "
                   "bộ dữ liệu; tỷ lệ đúng hạn thực tế đạt 100% (Công văn số 845/TTCĐS-KT của "
                   "Trung tâm Chuyển đổi số tỉnh)",
            decision_ref="QĐ 1057/QĐ-UBND",
            on=datetime(2026, 4, 8, 3, 0, tzinfo=UTC)),
    ),
}


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCycle:
    year: int
    cycle_id: UUID
    units_per_group: dict[str, int]
    publication_ref: str


@dataclass(frozen=True)
class DemoSummary:
    """What `load_demo` wrote, and where to look; `describe()` is what the CLI prints."""

    province: str
    cycles: tuple[DemoCycle, ...]
    event_count: int
    tie_group: str
    tie_units: tuple[str, ...]
    tie_total: Decimal
    locked_unit: str
    extended_unit: str
    evaluated_only_unit: str
    corrected_unit: str
    corrected_item: str
    correction_ref: str
    highlights: tuple[str, ...]

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(c.year for c in self.cycles)

    @property
    def cycle_ids(self) -> dict[int, UUID]:
        return {c.year: c.cycle_id for c in self.cycles}

    def describe(self) -> str:
        lines = [f"Demo province: {self.province} — PAR INDEX cycles "
                 f"{', '.join(str(y) for y in self.years)}, all published "
                 f"({self.event_count} events)."]
        for c in self.cycles:
            groups = ", ".join(f"{GROUPS[g]} ({g}): {n} units"
                               for g, n in c.units_per_group.items())
            lines.append(f"  {c.year}: cycle {c.cycle_id} — {groups}; published by "
                         f"{c.publication_ref}")
        lines.append("  Frameworks SO-<year>: 68 appraised + 32 survey = 100; XA-<year>: "
                     "60 appraised + 40 survey = 100; bonus cap 2, penalty cap 2.")
        lines.append(f"Worth looking at in {self.years[-1]}:")
        lines.extend(f"  - {line}" for line in self.highlights)
        return "\n".join(lines)


# -- the simulated clock ----------------------------------------------------------------------


class DemoClock:
    """The clock the application reads while the demo loads; the loader moves it by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


VIETNAM = timezone(timedelta(hours=7))


def _at(year: int, month: int, day: int, hour: int = 2, minute: int = 0) -> datetime:
    """A moment in UTC (Vietnam is UTC+7: 10:00 UTC is 17:00 in Khánh Hòa)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def schedule(year: int) -> dict[str, datetime]:
    """The provincial calendar of PAR-INDEX.md §1.2, deadlines at 17:00 local time."""
    return {Phase.SELF_ASSESSMENT.value: _at(year, 12, 15, 10),
            Phase.APPRAISAL_1.value: _at(year + 1, 1, 5, 10),
            Phase.EXPLANATION.value: _at(year + 1, 1, 12, 10),
            Phase.APPRAISAL_2.value: _at(year + 1, 1, 25, 10),
            Phase.COUNCIL.value: _at(year + 1, 2, 15, 10)}


# -- frameworks -------------------------------------------------------------------------------


def framework_template(group: str) -> dict[str, Any]:
    """The packaged JSON template of a group's framework (read via importlib.resources so it
    works from an installed wheel too)."""
    text = (resources.files("domain.demo") / "frameworks" / f"{group.lower()}.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def framework_document(group: str, year: int) -> dict[str, Any]:
    """The template with `{year}` filled in every text and the year set."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{year}", str(year))
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items() if not k.startswith("$")}
        return value

    document = fill(framework_template(group))
    document["year"] = year
    return document


# -- declared values --------------------------------------------------------------------------

# Typical sizes of the counts behind a ratio, so declared values look like real figures.
RATIO_SIZES: dict[tuple[str, str], tuple[int, int]] = {
    ("SO", "1.1.2"): (12, 30), ("SO", "1.3"): (3, 14), ("SO", "1.6"): (3, 12),
    ("SO", "2.1"): (1, 6), ("SO", "3.1"): (8, 60), ("SO", "3.2"): (300, 6000),
    ("SO", "3.4"): (2, 30), ("SO", "3.5"): (300, 6000), ("SO", "3.6"): (300, 6000),
    ("SO", "4.3"): (2, 8), ("SO", "6.2"): (2, 12), ("SO", "6.3"): (1, 9),
    ("SO", "7.1"): (800, 9000),
    ("XA", "1.1.2"): (10, 24), ("XA", "1.2"): (6, 30), ("XA", "2.1"): (4, 20),
    ("XA", "2.2"): (1, 4), ("XA", "3.2"): (400, 4000), ("XA", "3.3"): (40, 400),
    ("XA", "3.4"): (400, 4000), ("XA", "3.5"): (2, 25), ("XA", "4.3"): (6, 30),
    ("XA", "5.2"): (18, 45), ("XA", "7.1"): (600, 5000), ("XA", "7.2"): (400, 4000),
}
# Declared percentages that can exceed 100 (revenue against the estimate), and by how much;
# every other percentage (disbursement, shares) stops at 100.
VALUE_CEILINGS: dict[tuple[str, str], Decimal] = {("XA", "6.1"): Decimal(115)}
HUNDRED = Decimal(100)
THOUSAND = 1000


def _chance(rng: random.Random, per_mille: int) -> bool:
    return rng.randrange(THOUSAND) < per_mille


def _ratio_declared(rng: random.Random, size: tuple[int, int], pct: Decimal) -> dict[str, int]:
    """numerator/denominator whose ratio is just at or above `pct` percent."""
    denominator = rng.randint(*size)
    numerator = int((denominator * pct / HUNDRED).to_integral_value(rounding=ROUND_CEILING))
    return {"numerator": min(denominator, numerator), "denominator": denominator}


def _band_percent(rng: random.Random, bounds: list[Decimal], band: int, top: Decimal
                  ) -> Decimal:
    """A percentage inside band `band` (len(bounds) means below every band), hundredths."""
    if band == 0 and bounds[0] >= top:
        return bounds[0]
    upper = top if band == 0 else bounds[band - 1]
    lower = bounds[band] if band < len(bounds) else max(ZERO, bounds[-1] - 15)
    span = int((upper - lower) * 100)
    return lower + Decimal(rng.randrange(max(span, 1))) / 100


def draw_declared(rng: random.Random, group: str, node: Node, strength: int) -> dict[str, Any]:
    """Declared values for one computed item: a strong unit mostly reaches the maximum."""
    method = node.method.document()  # type: ignore[union-attr]
    good = _chance(rng, strength)
    kind = method["kind"]
    if kind == "boolean":
        return {"done": good or _chance(rng, 400)}
    if kind == "count":
        full = int(node.max_points / Decimal(method["points_per_unit"]))
        return {"count": full + rng.randint(0, 1) if good else rng.randint(max(0, full - 2),
                                                                          full - 1)}
    if kind == "deduction":
        return {"violations": 0 if good else rng.choice((1, 1, 1, 2))}
    if kind == "levels":
        codes = [level["code"] for level in method["levels"]]
        return {"level": codes[0] if good else codes[1] if _chance(rng, 800) else codes[-1]}
    size = RATIO_SIZES.get((group, node.code), (4, 30))
    if kind == "proportional":
        full_at = Decimal(method["full_at"]) * HUNDRED
        pct = full_at if good else full_at * rng.randint(55, 95) / HUNDRED
        if good and full_at == HUNDRED:
            pct = HUNDRED
        return _ratio_declared(rng, size, pct)
    bounds = [Decimal(band["from"]) for band in method["bands"]]
    band = 0 if good else rng.randint(1, len(bounds))
    if method["basis"] == "value":
        top = VALUE_CEILINGS.get((group, node.code), HUNDRED)
        value = _band_percent(rng, bounds, band, top)
        return {"value": str(value.quantize(Decimal("0.1"), rounding=ROUND_DOWN))}
    return _ratio_declared(rng, size, _band_percent(rng, bounds, band, HUNDRED))


def judgement_points(rng: random.Random, node: Node, strength: int) -> Decimal:
    """Rubric-based points: the maximum, half of it, or (rarely) nothing."""
    if _chance(rng, strength):
        return node.max_points
    return round_points(node.max_points / 2) if _chance(rng, 850) else ZERO


def lower_alternative(node: Node, declared: dict[str, Any] | None, points: Decimal
                      ) -> tuple[dict[str, Any] | None, Decimal] | None:
    """What an appraiser re-enters to cut an item below the self-score, or None if it cannot
    go lower. Computed items are re-entered as declared values, judgement items as points."""
    method = node.method
    assert method is not None
    if not method.computes:
        lower = max(ZERO, points - round_points(node.max_points / 2))
        return (None, lower) if lower < points else None
    assert declared is not None
    for candidate in _candidates(method.document(), declared):
        normalised = method.normalise(candidate, node.code)
        cut = method.points(normalised, node.max_points)
        if cut < points:
            return candidate, cut
    return None


def _candidates(method: dict[str, Any], declared: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kind = method["kind"]
    if kind == "boolean":
        yield {"done": False}
    elif kind == "count":
        for count in range(declared["count"] - 1, -1, -1):
            yield {"count": count}
    elif kind == "deduction":
        yield {"violations": declared["violations"] + 1}
    elif kind == "levels":
        codes = [level["code"] for level in method["levels"]]
        for code in codes[codes.index(declared["level"]) + 1:]:
            yield {"level": code}
    elif "value" in declared:
        for share in (97, 90, 80, 70):
            yield {"value": str((Decimal(declared["value"]) * share / 100).quantize(
                Decimal("0.1")))}
    else:
        for share in (99, 97, 90, 75, 50, 25):
            yield {"numerator": declared["numerator"] * share // 100,
                   "denominator": declared["denominator"]}


# -- Vietnamese texts -------------------------------------------------------------------------

NA_NOTES = {
    ("SO", "2.1"): "Năm {year} đơn vị không được giao chủ trì soạn thảo văn bản QPPL",
    ("SO", "3.3"): "Năm {year} không có hồ sơ giải quyết trễ hạn",
    ("SO", "6.1"): "Năm {year} đơn vị không được giao kế hoạch vốn đầu tư công",
    ("XA", "2.2"): "Qua tự kiểm tra không phát hiện văn bản có sai sót",
}
ROUND1_REASONS = {
    "boolean": "Không có tài liệu kiểm chứng chứng minh đã thực hiện đúng yêu cầu.",
    "count": "Một nội dung kê khai không có văn bản kiểm chứng hợp lệ; không được tính.",
    "deduction": "Đối chiếu sổ theo dõi của Sở Nội vụ và kết luận kiểm tra, đơn vị còn trường "
                 "hợp vi phạm chưa tự trừ điểm.",
    "levels": "Chưa có quyết định công nhận ở cấp đã kê khai; chấm ở mức thấp hơn.",
    "proportional": "Số liệu kê khai chưa khớp với hồ sơ lưu; tính lại theo số liệu Tổ giúp "
                    "việc đã kiểm tra.",
    "tiered": "Tỷ lệ trích xuất từ hệ thống của tỉnh thấp hơn số liệu đơn vị kê khai; tính lại "
              "theo hệ thống.",
    "judgement": "Tài liệu kiểm chứng chưa thể hiện đầy đủ nội dung theo thang điểm.",
}
FLAG_REASON = "Đề nghị đơn vị làm rõ nguồn số liệu kê khai."
EXPLANATIONS = {
    "boolean": "Đơn vị đã thực hiện nhưng đính kèm nhầm tệp; gửi bổ sung văn bản số {ref} có chữ "
               "ký số.",
    "count": "Đơn vị gửi bổ sung văn bản số {ref} làm căn cứ cho nội dung chưa được tính.",
    "deduction": "Trường hợp nêu trong kết quả thẩm định thuộc năm trước, đã được xử lý; đơn vị "
                 "gửi kèm văn bản số {ref}.",
    "levels": "Đơn vị gửi bổ sung quyết định công nhận và văn bản số {ref}; đề nghị Hội đồng xem "
              "xét lại mức chấm.",
    "proportional": "Đơn vị gửi kèm bảng đối chiếu số liệu và văn bản số {ref}; đề nghị Hội đồng "
                    "giữ nguyên số liệu kê khai.",
    "tiered": "Số liệu trích xuất chưa loại trừ các trường hợp được miễn theo quy định; đơn vị gửi "
              "kèm bảng đối chiếu có xác nhận của cơ quan quản lý hệ thống (văn bản số {ref}).",
    "judgement": "Đơn vị bổ sung hình ảnh, đường dẫn minh chứng các hoạt động đã triển khai "
                 "(văn bản số {ref}).",
}
RESTORED = "Đơn vị đã giải trình và bổ sung tài liệu kiểm chứng hợp lệ; công nhận điểm tự đánh giá."
UPHELD = "Tài liệu bổ sung không làm thay đổi kết quả; giữ nguyên điểm thẩm định vòng 1."
SATISFIED = "Nội dung giải trình phù hợp; giữ nguyên điểm."
SILENT = "Đơn vị không giải trình; giữ nguyên kết quả thẩm định vòng 1."
SIPAS_MINIMUM = 30


# -- one year ---------------------------------------------------------------------------------


def _officer(code: str) -> Actor:
    return Actor(f"{code.lower()}.chuyen-vien-cchc", Role.UNIT_OFFICER, code)


def _head(code: str) -> Actor:
    return Actor(f"{code.lower()}.thu-truong", Role.UNIT_HEAD, code)


def _strength(unit: DemoUnit, year: int) -> int:
    """Per-mille chance of reaching an item's maximum: a stable trait of the unit plus a
    yearly swing, so that year-on-year changes look like real ones."""
    trait = random.Random(f"parindex-demo/{unit.code}").randint(640, 960)
    swing = random.Random(f"parindex-demo/{unit.code}/{year}").randint(-60, 70)
    return max(550, min(985, trait + swing))


class YearLoader:
    """Walks one year's cycle through every phase; each method is one step of the calendar."""

    def __init__(self, app: ParIndex, clock: DemoClock, year: int) -> None:
        self.app = app
        self.clock = clock
        self.year = year
        self.story = STORIES[year]
        self.rng = random.Random(f"parindex-demo/{PROVINCE}/{year}")
        self.units = [unit for unit in UNITS if year in unit.years]
        self.cycle_id: UUID | None = None
        self.framework_ids: dict[str, UUID] = {}
        self.cards: dict[str, UUID] = {}
        self.appraiser_of: dict[str, Actor] = {}
        self.trees: dict[str, FrameworkTree] = {}
        self.self_scores: dict[str, dict[str, SelfScoreEntry]] = {}
        self.round1: dict[str, dict[str, AppraisalEntry]] = {}
        self.explained: dict[str, set[str]] = {}

    def run(self) -> UUID:
        for step in (self.frameworks, self.open_cycle, self.self_assessment,
                     self.appraisal_round_1, self.explanations, self.appraisal_round_2,
                     self.bonuses_and_penalties, self.surveys, self.council_and_publication,
                     self.correction):
            step()
        assert self.cycle_id is not None
        return self.cycle_id

    def _move(self, moment: datetime) -> None:
        self.clock.now = moment

    def _units(self, *, but: tuple[str | None, ...] = ()) -> Iterator[DemoUnit]:
        return (unit for unit in self.units if unit.code not in but)

    # -- setup (October) ----------------------------------------------------------------------

    def frameworks(self) -> None:
        self._move(_at(self.year, 10, 1))
        for group in GROUPS:
            result = self.app.define_framework(SECRETARIAT, framework_document(group, self.year))
            self.app.publish_framework(SECRETARIAT, result.aggregate_id)
            self.framework_ids[group] = result.aggregate_id
            self.trees[group] = self.app.framework_tree(result.aggregate_id)

    def open_cycle(self) -> None:
        self._move(_at(self.year, 10, 20))
        opened = self.app.open_cycle(
            SECRETARIAT, province=PROVINCE, year=self.year,
            title=f"Xác định Chỉ số cải cách hành chính năm {self.year} của các sở, ban, ngành "
                  f"và UBND các xã, phường tỉnh {PROVINCE}",
            groups=[{"code": code, "name": name, "framework_id": str(self.framework_ids[code])}
                    for code, name in GROUPS.items()],
            schedule=schedule(self.year))
        self.cycle_id = opened.aggregate_id
        self.app.enrol_units(SECRETARIAT, self.cycle_id, [
            {"code": u.code, "name": u.name, "group": u.group, "ranked": u.ranked}
            for u in self.units])
        for group, appraisers in APPRAISERS.items():
            codes = [u.code for u in self.units if u.group == group]
            half = (len(codes) + 1) // 2
            for appraiser, share in zip(appraisers, (codes[:half], codes[half:]), strict=True):
                self.app.assign_appraiser(SECRETARIAT, self.cycle_id, appraiser.id, share)
                self.appraiser_of.update(dict.fromkeys(share, appraiser))
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.SELF_ASSESSMENT)
        cycle = self.app.cycle(self.cycle_id)
        self.cards = {code: unit["scorecard_id"] for code, unit in cycle.units.items()}

    # -- self-assessment (November – December) ------------------------------------------------

    def self_assessment(self) -> None:
        assert self.cycle_id is not None
        for unit in self.units:
            self.self_scores[unit.code] = self._draw_self_scores(unit)
        locked = self.story.locked_unit
        extended = self.story.extension[0] if self.story.extension else None
        if locked:
            self._move(_at(self.year, 12, 10, 3))
            entries = list(self.self_scores[locked].values())
            self.app.record_self_scores(_officer(locked), self.cards[locked],
                                        entries[: len(entries) * 2 // 5])
        if self.story.extension:
            unit_code, until, reason = self.story.extension
            self._move(_at(self.year, 12, 12, 8))
            self.app.extend_deadline(SECRETARIAT, self.cycle_id, unit_code,
                                     Phase.SELF_ASSESSMENT, until, reason)
        self._move(_at(self.year, 12, 14, 8))
        for unit in self._units(but=(locked, extended)):
            self._submit(unit.code)
        self._move(_at(self.year, 12, 15, 10, 5))
        self.app.lock_overdue_scorecards(AUTO_LOCK, self.cycle_id)
        if extended:
            self._move(_at(self.year, 12, 19, 4))
            self._submit(extended)
        self._move(_at(self.year, 12, 22))
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.APPRAISAL_1)

    def _submit(self, code: str) -> None:
        self.app.record_self_scores(_officer(code), self.cards[code],
                                    list(self.self_scores[code].values()))
        self.app.submit_self_assessment(_head(code), self.cards[code])

    def _draw_self_scores(self, unit: DemoUnit) -> dict[str, SelfScoreEntry]:
        tree = self.trees[unit.group]
        strength = _strength(unit, self.year)
        suffix = "UBND" if unit.group == "XA" else unit.code
        report = (f"Báo cáo tự đánh giá số {self.rng.randint(120, 480)}/BC-{suffix} ngày "
                  f"{self.rng.randint(5, 13):02d}/12/{self.year}")
        entries: dict[str, SelfScoreEntry] = {}
        for node in tree.items():
            if node.survey_fed:
                continue
            na_note = self._not_applicable(unit, node, entries)
            if na_note is not None:
                entries[node.code] = SelfScoreEntry(node.code, not_applicable=True, note=na_note)
                continue
            forced = self.story.forced.get((unit.code, node.code))
            assert node.method is not None
            if node.method.computes:
                declared = forced or draw_declared(self.rng, unit.group, node, strength)
                points = node.method.points(node.method.normalise(declared, node.code),
                                            node.max_points)
                entry = SelfScoreEntry(node.code, declared)
            else:
                points = judgement_points(self.rng, node, strength)
                entry = SelfScoreEntry(node.code, points=str(points))
            if points > 0 and node.evidence:
                entry = SelfScoreEntry(entry.item_code, entry.declared, entry.points,
                                       note=f"{node.evidence}: kèm {report}")
            entries[node.code] = entry
        return entries

    def _not_applicable(self, unit: DemoUnit, node: Node,
                        so_far: dict[str, SelfScoreEntry]) -> str | None:
        """The note of a "not applicable" declaration, or None if the item applies."""
        key = (unit.group, node.code)
        if key not in NA_NOTES:
            return None
        applies = {
            ("SO", "2.1"): lambda: unit.drafts_laws,
            ("SO", "6.1"): lambda: unit.invests,
            ("SO", "3.3"): lambda: _has_late_dossiers(so_far.get("3.2")),
            ("XA", "2.2"): lambda: not _chance(self.rng, 180),
        }[key]
        return None if applies() else NA_NOTES[key].format(year=self.year)

    # -- appraisal round 1 (late December) ----------------------------------------------------

    def appraisal_round_1(self) -> None:
        self._move(_at(self.year, 12, 29))
        for unit in self.units:
            entries = self._round1_entries(unit)
            actor = self.appraiser_of[unit.code]
            if entries:
                self.app.appraise(actor, self.cards[unit.code], 1, list(entries.values()))
            self.round1[unit.code] = entries
            self.app.accept_remaining(actor, self.cards[unit.code], 1)
        self._move(_at(self.year + 1, 1, 5, 9))
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.EXPLANATION)

    def _round1_entries(self, unit: DemoUnit) -> dict[str, AppraisalEntry]:
        if unit.code == self.story.locked_unit:
            return {}
        tree = self.trees[unit.group]
        card = self.app.scorecard(self.cards[unit.code])
        cuts = self.rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4))
        candidates = [node for node in tree.items() if self._cuttable(unit, card, node)]
        entries: dict[str, AppraisalEntry] = {}
        for node in self.rng.sample(candidates, min(cuts, len(candidates))):
            state = card.item(node.code)
            lower = lower_alternative(node, state.declared, state.self_points or ZERO)
            if lower is None:
                continue
            declared, points = lower
            assert node.method is not None
            entries[node.code] = AppraisalEntry(
                node.code, Decision.ADJUSTED, points=None if declared else str(points),
                declared=declared, reason=ROUND1_REASONS[node.method.kind],
                request_explanation=_chance(self.rng, 250))
        if candidates and _chance(self.rng, 120):
            flagged = self.rng.choice(candidates)
            if flagged.code not in entries:
                entries[flagged.code] = AppraisalEntry(flagged.code, Decision.ACCEPTED,
                                                       reason=FLAG_REASON,
                                                       request_explanation=True)
        return entries

    def _cuttable(self, unit: DemoUnit, card: Scorecard, node: Node) -> bool:
        state = card.item(node.code)
        return (not node.survey_fed and not state.not_applicable
                and bool(state.self_points) and (unit.code, node.code) not in self.story.forced)

    # -- explanations (5 working days in January) ---------------------------------------------

    def explanations(self) -> None:
        """Units explain every flagged item and most of the cut ones (some accept the cut)."""
        self._move(_at(self.year + 1, 1, 9, 3))
        for unit in self.units:
            self.explained[unit.code] = {
                code for code, entry in self.round1[unit.code].items()
                if entry.request_explanation or _chance(self.rng, 600)}
            for code in sorted(self.explained[unit.code]):
                self.app.explain(_officer(unit.code), self.cards[unit.code], code,
                                 self._explanation_text(unit, code))
        self._move(_at(self.year + 1, 1, 12, 10, 5))
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.APPRAISAL_2)

    def _explanation_text(self, unit: DemoUnit, item_code: str) -> str:
        method = self.trees[unit.group].item(item_code).method
        assert method is not None
        suffix = "UBND" if unit.group == "XA" else unit.code
        ref = (f"{self.rng.randint(10, 99)}/CV-{suffix} ngày {self.rng.randint(6, 9):02d}/01/"
               f"{self.year + 1}")
        return EXPLANATIONS[method.kind].format(ref=ref)

    # -- appraisal round 2 (mid January) ------------------------------------------------------

    def appraisal_round_2(self) -> None:
        """Round 2 decides exactly the items explained or flagged in round 1 (PAR-INDEX §8.4)."""
        self._move(_at(self.year + 1, 1, 19))
        for unit in self.units:
            entries = [self._round2_entry(unit, code, entry)
                       for code, entry in self.round1[unit.code].items()
                       if code in self.explained[unit.code] or entry.request_explanation]
            if entries:
                self.app.appraise(self.appraiser_of[unit.code], self.cards[unit.code], 2,
                                  entries)

    def _round2_entry(self, unit: DemoUnit, code: str, first: AppraisalEntry) -> AppraisalEntry:
        """About half of the explained cuts are restored to the self-score; the rest stand."""
        if code not in self.explained[unit.code]:
            return AppraisalEntry(code, Decision.ACCEPTED, reason=SILENT)
        if first.decision is Decision.ADJUSTED and _chance(self.rng, 550):
            own = self.self_scores[unit.code][code]
            return AppraisalEntry(code, Decision.ADJUSTED, points=own.points,
                                  declared=own.declared, reason=RESTORED)
        return AppraisalEntry(code, Decision.ACCEPTED,
                              reason=UPHELD if first.decision is Decision.ADJUSTED
                              else SATISFIED)

    def bonuses_and_penalties(self) -> None:
        """The council's bonus and penalty entries, outside the 100-point base and capped."""
        self._move(_at(self.year + 1, 1, 21))
        for number, bonus in enumerate(self.story.bonuses, start=1):
            self.app.award_bonus(COUNCIL, self.cards[bonus.unit], f"thuong-{number:02d}",
                                 bonus.points, bonus.reason)
        for number, penalty in enumerate(self.story.penalties, start=1):
            self.app.impose_penalty(COUNCIL, self.cards[penalty.unit], f"tru-{number:02d}",
                                    penalty.points, penalty.reason)

    # -- surveys (imported by the end of January) ---------------------------------------------

    def surveys(self) -> None:
        """One import with every unit's SIPAS and KSCB points, in one call."""
        assert self.cycle_id is not None
        self._move(_at(self.year + 1, 1, 23))
        rows = [row for unit in self.units for row in self._survey_rows(unit)]
        if self.story.tie_group:
            self._force_tie(rows, self.story.tie_group)
        import_id = uuid5(NAMESPACE_URL, f"/parindex/demo/{PROVINCE}/{self.year}/surveys")
        self.app.apply_survey_points(SECRETARIAT, self.cycle_id, import_id, rows)

    def _survey_rows(self, unit: DemoUnit) -> list[dict[str, Any]]:
        tree = self.trees[unit.group]
        strength = _strength(unit, self.year)
        low_sample = unit.code == self.story.low_sample_unit
        respondents = (self.rng.randint(22, SIPAS_MINIMUM - 1) if low_sample
                       else self.rng.randint(90, 220 if unit.group == "SO" else 150))
        rows = []
        for node in tree.items():
            if not node.survey_fed:
                continue
            assert node.method is not None
            if node.method.document()["instrument"] == "SIPAS":
                detail = self._sipas_detail(respondents, strength, node.title)
                if low_sample:
                    detail["note"] = (f"Dưới {SIPAS_MINIMUM} phiếu hợp lệ; Hội đồng quyết định "
                                      "vẫn sử dụng kết quả")
                share = Decimal(detail["satisfied_share"])
            else:
                share = Decimal(_near(self.rng, strength, 680, 950)) / THOUSAND
                detail = {"n": self.rng.randint(18, 60), "index": str(share)}
            rows.append({"unit_code": unit.code, "item_code": node.code,
                         "points": str(round_points(node.max_points * share)),
                         "detail": detail})
        return rows

    def _sipas_detail(self, respondents: int, strength: int, element: str) -> dict[str, Any]:
        satisfied = respondents * _near(self.rng, strength, 720, 985) // THOUSAND
        share = (Decimal(satisfied) / respondents).quantize(Decimal("0.0001"))
        return {"n": respondents, "satisfied": satisfied, "satisfied_share": str(share),
                "element": element}

    def _force_tie(self, rows: list[dict[str, Any]], group: str) -> None:
        """Give two ranked units of `group` exactly the same final total by setting one unit's
        staff-survey (KSCB) points: of all pairs, the one needing the smallest change."""
        totals = {}
        for unit in self._units():
            if unit.group != group or not unit.ranked:
                continue
            _, _, sheet = self.app.score_sheet(self.cards[unit.code])
            if sheet.appraised_applicable_max != sheet.appraised_max:
                continue  # rescaled totals have endless decimals; a tie needs exact ones
            survey = sum((Decimal(r["points"]) for r in rows if r["unit_code"] == unit.code),
                         ZERO)
            totals[unit.code] = sheet.total + survey
        ordered = sorted(totals, key=totals.__getitem__)
        pairs = sorted(itertools.pairwise(ordered),
                       key=lambda p: (totals[p[1]] - totals[p[0]], p))
        kscb = next(node.code for node in self.trees[group].items()
                    if node.survey_fed and node.method.document()["instrument"] == "KSCB")
        for low, high in pairs:
            row = next(r for r in rows if r["unit_code"] == low and r["item_code"] == kscb)
            raised = Decimal(row["points"]) + totals[high] - totals[low]
            maximum = self.trees[group].nodes[kscb].max_points
            if raised <= maximum:
                row["points"] = str(raised)
                row["detail"]["index"] = str(raised / maximum)
                return
        raise AssertionError(f"no tie could be arranged in group {group}")

    # -- council and publication (February), corrections (later) ------------------------------

    def council_and_publication(self) -> None:
        assert self.cycle_id is not None
        self._move(_at(self.year + 1, 1, 26))
        self.app.advance_phase(SECRETARIAT, self.cycle_id, Phase.COUNCIL)
        self._move(_at(self.year + 1, 2, 10, 8))
        self.app.approve_results(COUNCIL, self.cycle_id, self.story.approval_ref,
                                 "Hội đồng thống nhất kết quả thẩm định và xếp hạng")
        published = self.story.publication_date
        self._move(_at(published.year, published.month, published.day))
        self.app.publish_results(SECRETARIAT, self.cycle_id, self.story.publication_ref,
                                 published)

    def correction(self) -> None:
        fix = self.story.correction
        if fix is None:
            return
        self._move(fix.on)
        self.app.correct_points(SECRETARIAT, self.cards[fix.unit], fix.item, fix.points,
                                fix.reason, fix.decision_ref)


def _near(rng: random.Random, strength: int, floor: int, ceiling: int) -> int:
    """A per-mille survey score that tracks the unit's strength, within [floor, ceiling]."""
    low = max(floor, min(ceiling - 40, strength - 150))
    return rng.randint(low, max(low, min(ceiling, strength + 40)))


def _has_late_dossiers(on_time: SelfScoreEntry | None) -> bool:
    declared = on_time.declared if on_time else None
    return bool(declared) and declared["numerator"] < declared["denominator"]  # type: ignore


# -- facts for the summary --------------------------------------------------------------------


@dataclass(frozen=True)
class UnitResult:
    """One unit's final standing, read back from the store (never from the loader's plans)."""

    code: str
    name: str
    group: str
    ranked: bool
    status: Status
    sheet: ScoreSheet
    unscored: int  # appraised items without a self-score (a sheet locked as it stood)
    restored: tuple[str, ...]  # items that round 2 raised above round 1 after an explanation

    @property
    def total(self) -> Decimal:
        return self.sheet.total


def results(app: ParIndex, cycle_id: UUID) -> list[UnitResult]:
    """Every unit's final sheet and the workflow facts worth reporting."""
    out = []
    for card in app.scorecards(app.cycle(cycle_id)):
        tree = app.framework_tree(card.framework_id)
        states = [card.item(node.code) for node in tree.items() if not node.survey_fed]
        out.append(UnitResult(
            card.unit_code, card.unit_name, card.group_code, card.ranked, card.status,
            card.sheet(tree),
            unscored=sum(1 for s in states if s.self_points is None and not s.not_applicable),
            restored=tuple(s.code for s in states if s.explanation is not None
                           and s.round2_decision is Decision.ADJUSTED
                           and (s.round2_points or ZERO) > (s.round1_points or ZERO))))
    return out


def competition_rank(rows: list[UnitResult], unit: UnitResult) -> int:
    """1 + the number of ranked units of the group with a strictly higher unrounded total."""
    return 1 + sum(1 for r in rows if r.group == unit.group and r.ranked
                   and r.total > unit.total)


def _shown(points: Decimal) -> str:
    return str(round_points(points))


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(VIETNAM):%d/%m/%Y %H:%M} (UTC+7)"


def _summary(app: ParIndex, cycles: dict[int, UUID]) -> DemoSummary:
    story = STORIES[CURRENT_YEAR]
    fix, extension, tie_group = story.correction, story.extension, story.tie_group
    assert fix is not None and extension is not None and tie_group is not None
    rows = results(app, cycles[CURRENT_YEAR])
    previous = results(app, cycles[YEARS[0]])
    by_code = {r.code: r for r in rows}
    tie = _find_tie(rows, tie_group)
    locked = next(r for r in rows if r.status is Status.LOCKED)
    unranked = next(r for r in rows if not r.ranked)
    restored = [r for r in rows if r.restored]
    highlights = (
        f"Tie: {' and '.join(by_code[c].name for c in tie)} both total "
        f"{_shown(by_code[tie[0]].total)} in group {tie_group}, rank "
        f"{competition_rank(rows, by_code[tie[0]])} each (equal unrounded totals).",
        f"Locked at the deadline: {locked.name} ({locked.code}) had not submitted by "
        f"{_local(schedule(CURRENT_YEAR)[Phase.SELF_ASSESSMENT.value])}; its sheet was locked "
        f"as it stood and {locked.unscored} unscored items count 0 (total "
        f"{_shown(locked.total)}).",
        f"Deadline extension: {by_code[extension[0]].name} until {_local(extension[1])} — "
        f"{extension[2]}.",
        f"Evaluated, not ranked: {unranked.name} ({unranked.code}), total "
        f"{_shown(unranked.total)}.",
        f"Explanations that restored points in round 2: {sum(len(r.restored) for r in restored)}"
        f" items in {len(restored)} units (e.g. {restored[0].name}, items "
        f"{', '.join(restored[0].restored)}).",
        f"Corrected after publication: {by_code[fix.unit].name}, item {fix.item} from "
        f"{_before_correction(app, cycles[CURRENT_YEAR], fix)} to {fix.points} points under "
        f"{fix.decision_ref} (total now {_shown(by_code[fix.unit].total)}).",
        *_capped_bonuses(story, by_code),
        *([f"Survey sample below {SIPAS_MINIMUM} respondents: "
           f"{by_code[story.low_sample_unit].name} (SIPAS)."] if story.low_sample_unit else []),
        _year_on_year(previous, rows),
    )
    return DemoSummary(
        province=PROVINCE,
        cycles=tuple(_demo_cycle(app, year, cycle_id) for year, cycle_id in cycles.items()),
        event_count=app.recorder.max_notification_id() or 0,
        tie_group=tie_group, tie_units=tie, tie_total=by_code[tie[0]].total,
        locked_unit=locked.code, extended_unit=extension[0],
        evaluated_only_unit=unranked.code, corrected_unit=fix.unit, corrected_item=fix.item,
        correction_ref=fix.decision_ref, highlights=highlights)


def _before_correction(app: ParIndex, cycle_id: UUID, fix: Correction) -> Decimal | None:
    card = app.scorecard(app.cycle(cycle_id).unit(fix.unit)["scorecard_id"])
    state = card.item(fix.item)
    return next((p for p in (state.round2_points, state.round1_points, state.self_points)
                 if p is not None), None)


def _year_on_year(previous: list[UnitResult], current: list[UnitResult]) -> str:
    before = {r.code: r.total for r in previous}
    changes = sorted((r.total - before[r.code], r.name) for r in current if r.code in before)
    new = [r.name for r in current if r.code not in before]
    (fall, faller), (rise, riser) = changes[0], changes[-1]
    return (f"Year on year: {len(changes)} units in both years (new: {', '.join(new)}); "
            f"largest rise {riser} +{_shown(rise)}, largest fall {faller} {_shown(fall)}.")


def _capped_bonuses(story: Story, by_code: dict[str, UnitResult]) -> list[str]:
    """Units awarded more bonus than the cap lets count."""
    awarded: dict[str, Decimal] = {}
    for bonus in story.bonuses:
        awarded[bonus.unit] = awarded.get(bonus.unit, ZERO) + Decimal(bonus.points)
    return [f"Bonus above the cap: {by_code[code].name} was awarded {points} bonus points; "
            f"{by_code[code].sheet.bonus} count."
            for code, points in awarded.items() if points > by_code[code].sheet.bonus]


def _find_tie(rows: list[UnitResult], group: str) -> tuple[str, ...]:
    ranked = [r for r in rows if r.group == group and r.ranked]
    for row in ranked:
        tied = tuple(sorted(r.code for r in ranked if r.total == row.total))
        if len(tied) > 1:
            return tied
    raise AssertionError(f"the demo has no tie in group {group}")


def _demo_cycle(app: ParIndex, year: int, cycle_id: UUID) -> DemoCycle:
    cycle = app.cycle(cycle_id)
    counts: dict[str, int] = {}
    for unit in cycle.units.values():
        counts[unit["group"]] = counts.get(unit["group"], 0) + 1
    assert cycle.publication is not None
    return DemoCycle(year, cycle_id, counts, cycle.publication["decision_ref"])


# -- entry point ------------------------------------------------------------------------------


def refuse_unless_empty(app: ParIndex) -> None:
    """The demo is a starting point, never a merge: it goes only into an empty store."""
    events = app.recorder.max_notification_id() or 0
    if events:
        raise AlreadyExists(f"the store already holds {events} events; the demo loads only into "
                            "an empty store (point PARINDEX_DATABASE_URL at a new database)")
    for year in YEARS:
        if app.find_cycle(PROVINCE, year) is not None:
            raise AlreadyExists(f"the {year} cycle of {PROVINCE} already exists; the demo is "
                                "loaded")


def load_demo(app: ParIndex) -> DemoSummary:
    """Load the demo province into an empty store (AlreadyExists otherwise).

    Not atomic across commands: a failure part-way leaves the events written so far, and a
    second attempt is then refused; start again from an empty store."""
    refuse_unless_empty(app)
    original_clock = app.clock
    clock = DemoClock(_at(YEARS[0], 10, 1))
    app.clock = clock
    try:
        cycles = {}
        for year in YEARS:
            cycles[year] = YearLoader(app, clock, year).run()
        return _summary(app, cycles)
    finally:
        app.clock = original_clock
