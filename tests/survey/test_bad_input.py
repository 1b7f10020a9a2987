"""Bad input: a row-level report and no partial import (nothing written, every fault listed)."""

from __future__ import annotations

import io
import unicodedata
from decimal import Decimal

import openpyxl
import pytest

from domain.errors import InvalidInput, NotFound
from domain.survey.errors import SurveyRejected
from domain.survey.service import SurveyService
from tests.builders import SECRETARIAT, cycle_with_units
from tests.survey.helpers import (
    HEADER,
    SIPAS,
    faults,
    head,
    import_bytes,
    refused,
    respondents,
    sipas_mapping,
    standard_file,
    table,
)

GOOD = [(5, 4)] * 5


def rejected(app, survey, scenario, content, **options) -> SurveyRejected:
    """Refused the same way by the dry run and by the import."""
    dry = refused(app, lambda: import_bytes(survey, scenario, content, dry_run=True, **options))
    real = refused(app, lambda: import_bytes(survey, scenario, content, **options))
    assert dry.errors == real.errors and dry.error_count == real.error_count
    return real


def xlsx(*sheets: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for index, rows in enumerate(sheets):
        sheet = workbook.create_sheet(f"Sheet{index + 1}")
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# -- headers ----------------------------------------------------------------------------------

def test_a_missing_question_column_is_named(app, survey, scenario):
    content = table(["respondent_id", "unit_code", "Q1"], [["R1", "STC", 5]])
    error = rejected(app, survey, scenario, content)
    assert faults(error) == [(1, "Q2", "missing-column")]
    assert error.rule == "survey-rejected" and error.field == "file"


def test_labels_instead_of_codes_are_refused_with_a_hint(app, survey, scenario):
    content = table(["Mã phiếu", "Đơn vị", "Câu 1", "Câu 2"], [["R1", "STC", "Hài lòng", "4"]])
    error = rejected(app, survey, scenario, content)
    codes = [code for _, _, code in faults(error)]
    assert codes.count("unknown-column") == 4 and codes.count("missing-column") == 4
    assert "no-header" in codes
    assert any("not labels" in e["message"] for e in error.errors)


def test_an_unknown_question_code_is_refused_and_metadata_columns_are_not(app, survey,
                                                                        scenario):
    header = ["_id", "_uuid", "start", "end", "respondent_id", "unit_code", "Q1", "Q2", "Q3"]
    error = rejected(app, survey, scenario, table(header, [["1", "u", "", "", "R1", "STC", 5,
                                                            5, 5]]))
    assert faults(error) == [(1, "Q3", "unknown-column")]
    assert "form version" in error.errors[0]["message"]


def test_duplicate_columns_are_refused(app, survey, scenario):
    content = table(["respondent_id", "unit_code", "Q1", "Q2", "Q1"], [["R1", "STC", 5, 5, 4]])
    error = rejected(app, survey, scenario, content)
    assert faults(error) == [(1, "Q1", "duplicate-column")]


def test_kobo_group_paths_match_the_question_codes(app, survey, scenario):
    header = ["respondent_id", "unit_code", "grp_tiep_can/Q1", "grp_thu_tuc/Q2"]
    report = import_bytes(survey, scenario, table(header, respondents("STC", GOOD)
                                                  + respondents("SNV", GOOD)))
    assert report["results"][0]["n"] == 5


# -- rows ---------------------------------------------------------------------------------------

def test_unknown_and_missing_unit_codes_are_listed_by_row(app, survey, scenario):
    rows = [*respondents("STC", GOOD), ["R9", "stc", 5, 5], ["R10", "SXD", 5, 5], ["R11", "", 5, 5]]
    error = rejected(app, survey, scenario, table(HEADER, rows))
    assert faults(error) == [(7, "unit_code", "unknown-unit"), (8, "unit_code", "unknown-unit"),
                             (9, "unit_code", "missing-unit")]
    assert "did you mean STC?" in error.errors[0]["message"]


def test_duplicate_respondent_ids_are_listed_with_the_first_row(app, survey, scenario):
    rows = [*respondents("STC", GOOD), ["STC-0002", "SNV", 5, 5], ["STC-0002", "SNV", 4, 4],
            ["", "SNV", 4, 4]]
    error = rejected(app, survey, scenario, table(HEADER, rows))
    assert faults(error) == [(7, "respondent_id", "duplicate-respondent"),
                             (8, "respondent_id", "duplicate-respondent"),
                             (9, "respondent_id", "missing-respondent")]
    assert "already appears in row 3" in error.errors[0]["message"]


def test_duplicates_are_found_exactly_among_many_respondents(app, survey, scenario):
    rows = [[f"R{i:06d}", "STC" if i % 2 else "SNV", 1 + i % 5, 1 + i % 3] for i in range(20000)]
    rows.insert(15000, ["R000123", "STC", 5, 5])
    error = rejected(app, survey, scenario, table(HEADER, rows))
    assert faults(error) == [(15002, "respondent_id", "duplicate-respondent")]
    assert "row 125" in error.errors[0]["message"]


def test_values_off_the_scale_are_listed_by_row_and_column(app, survey, scenario):
    rows = [*respondents("STC", GOOD), ["X1", "SNV", 7, 5], ["X2", "SNV", "0", "Hài lòng"],
            ["X3", "SNV", "4.5", 4], ["X4", "SNV", "-1", 3]]
    error = rejected(app, survey, scenario, table(HEADER, rows))
    assert faults(error) == [(7, "Q1", "off-scale"), (8, "Q1", "off-scale"),
                             (8, "Q2", "off-scale"), (9, "Q1", "off-scale"),
                             (10, "Q1", "off-scale")]
    assert error.error_count == 5


def test_a_ragged_row_is_refused(app, survey, scenario):
    content = table(HEADER, respondents("STC", GOOD)) + b"R7,STC,5\nR8,STC,5,5,5\n"
    error = rejected(app, survey, scenario, content)
    assert faults(error) == [(7, None, "ragged-row"), (8, None, "ragged-row")]


def test_every_fault_is_counted_and_the_listing_stops_at_a_thousand(app, survey, scenario):
    rows = [[f"R{i}", "STC", 9, 9] for i in range(800)]
    error = rejected(app, survey, scenario, table(HEADER, rows))
    assert error.error_count == 1600 and len(error.errors) == 1000


# -- empty and oversized files ------------------------------------------------------------------

def test_an_empty_file_is_refused(app, survey, scenario):
    error = rejected(app, survey, scenario, b"")
    assert faults(error) == [(None, None, "empty-file")]


def test_a_header_without_rows_is_refused(app, survey, scenario):
    error = rejected(app, survey, scenario, table(HEADER, []) + b"\n\n")
    assert faults(error) == [(None, None, "no-rows")]


def test_blank_lines_only_are_refused(app, survey, scenario):
    error = rejected(app, survey, scenario, b"\n\n ,\n")
    assert faults(error) == [(None, None, "empty-file")]


def test_a_file_over_the_size_limit_is_refused_before_it_is_stored(app, scenario, blobs):
    small = SurveyService(app, blobs, max_bytes=100)
    with pytest.raises(SurveyRejected) as caught:
        small.store([standard_file()])
    assert faults(caught.value) == [(None, None, "file-too-large")]
    assert not any(p.is_file() and not p.name.startswith(".") for p in blobs.root.rglob("*"))


def test_a_stored_file_over_the_limit_is_refused_at_import(app, survey, scenario, blobs):
    blob = survey.store([standard_file()])
    small = SurveyService(app, blobs, max_bytes=100)
    error = refused(app, lambda: small.import_file(SECRETARIAT, scenario.cycle_id, SIPAS, blob,
                                                   "a.csv"))
    assert faults(error) == [(None, None, "file-too-large")]


# -- encodings ----------------------------------------------------------------------------------

def test_utf8_with_and_without_bom_give_the_same_results(app, survey, scenario):
    plain = import_bytes(survey, scenario, standard_file(), dry_run=True)
    with_bom = import_bytes(survey, scenario, b"\xef\xbb\xbf" + standard_file(), dry_run=True)
    assert with_bom["file"]["encoding"] == "utf-8-sig"
    assert [(r["unit_code"], r["points"]) for r in with_bom["results"]] == [
        (r["unit_code"], r["points"]) for r in plain["results"]]


def test_nfd_vietnamese_is_normalised_to_nfc(app, survey):
    scenario = cycle_with_units(app, units=("SỞ-TC", "SNV"))
    survey.define_mapping(SECRETARIAT, sipas_mapping())
    nfd = unicodedata.normalize("NFD", "SỞ-TC")
    assert nfd != "SỞ-TC"
    rows = respondents(nfd, [(5, 5)] * 4 + [(4, unicodedata.normalize("NFD", "Không biết"))])
    report = import_bytes(survey, scenario, table(HEADER, rows + respondents("SNV", GOOD)))
    by_unit = {r["unit_code"]: r for r in report["results"]}
    assert by_unit["SỞ-TC"]["n"] == 5
    assert by_unit["SỞ-TC"]["detail"]["questions"]["Q2"]["missing"] == 1
    assert app.scorecard(scenario.scorecards["SỞ-TC"]).item("8.2").survey_points == Decimal(
        "3.00")


TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def cp1258(text: str) -> bytes:
    """What Vietnamese Windows writes: letters with breve, circumflex and horn precomposed,
    tone marks as combining characters."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            base = unicodedata.normalize("NFC", "".join(c for c in parts
                                                        if c not in TONE_MARKS))
            out += base.encode("cp1258")
            out += "".join(c for c in parts if c in TONE_MARKS).encode("cp1258")
    return bytes(out)


def windows_1258_file(unit: str = "STC") -> bytes:
    header = "respondent_id,unit_code,Q1,Q2,ghi_chu\n"
    rows = "".join(f"R{i},{unit if i < 5 else 'SNV'},5,4,Đơn vị phục vụ tốt\n"
                   for i in range(10))
    return cp1258(header + rows)


def test_windows_1258_is_detected_and_refused_with_a_clear_message(app, survey, scenario):
    content = windows_1258_file()
    error = rejected(app, survey, scenario, content)
    assert faults(error) == [(None, None, "encoding")]
    assert "Windows-1258" in error.errors[0]["message"]
    assert "line 2" in error.errors[0]["message"] and error.errors[0]["line"] == 2


def test_windows_1258_is_converted_to_nfc_when_asked(app, survey):
    scenario = cycle_with_units(app, units=("SỞ-TC", "SNV"))
    survey.define_mapping(SECRETARIAT, sipas_mapping(ignore_columns=["ghi_chu"]))
    content = windows_1258_file("SỞ-TC")
    assert "SỞ-TC".encode("cp1258", errors="replace") not in content  # tone mark combining
    report = import_bytes(survey, scenario, content, encoding="windows-1258")
    assert report["status"] == "imported" and report["file"]["encoding"] == "windows-1258"
    assert [r["unit_code"] for r in report["results"]] == ["SNV", "SỞ-TC"]
    trace = survey.trace(report["import_id"], "SỞ-TC")
    assert trace["total_rows"] == 5 and trace["rows"][0]["unit"] == "SỞ-TC"


def test_asking_for_windows_1258_on_a_utf8_file_is_refused(app, survey, scenario):
    content = table([*HEADER, "ghi_chu"], [["R1", "STC", 5, 5, "Tốt"]])
    error = rejected(app, survey, scenario, content, encoding="windows-1258")
    assert "valid UTF-8" in error.errors[0]["message"]


def test_utf16_and_legacy_xls_are_refused(app, survey, scenario):
    utf16 = standard_file().decode().encode("utf-16")
    assert "UTF-16" in rejected(app, survey, scenario, utf16).errors[0]["message"]
    xls = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    assert faults(rejected(app, survey, scenario, xls)) == [(None, None, "legacy-xls")]


def test_a_semicolon_separated_kobo_export_is_read(app, survey, scenario):
    content = table(HEADER, respondents("STC", GOOD) + respondents("SNV", GOOD), delimiter=";")
    assert import_bytes(survey, scenario, content)["rows"]["used"] == 10


# -- XLSX ---------------------------------------------------------------------------------------

def test_an_xlsx_file_gives_the_same_results_as_its_csv(app, survey, scenario):
    import csv

    rows = list(csv.reader(io.StringIO(standard_file().decode())))
    sheet = [rows[0]] + [[r[0], r[1], *(int(v) if v.isdigit() else v for v in r[2:])]
                         for r in rows[1:]]
    from_csv = import_bytes(survey, scenario, standard_file(), dry_run=True)
    from_xlsx = import_bytes(survey, scenario, xlsx(sheet), name="sipas.xlsx", dry_run=True)
    assert from_xlsx["file"]["format"] == "xlsx"
    assert [(r["unit_code"], r["n"], r["index"], r["points"]) for r in from_xlsx["results"]] == [
        (r["unit_code"], r["n"], r["index"], r["points"]) for r in from_csv["results"]]


def test_an_xlsx_workbook_with_several_sheets_is_refused(app, survey, scenario):
    content = xlsx([HEADER, ["R1", "STC", 5, 5]], [["ghi chú"]])
    error = rejected(app, survey, scenario, content)
    assert faults(error) == [(None, None, "several-sheets")]
    assert "Sheet1, Sheet2" in error.errors[0]["message"]


def test_formulas_in_an_xlsx_are_refused_by_cell(app, survey, scenario):
    rows = [HEADER, *respondents("STC", GOOD), ["R9", "SNV", "=2+3", 4]]
    error = rejected(app, survey, scenario, xlsx(rows))
    assert faults(error) == [(7, "C", "formula")]
    assert "cell C7" in error.errors[0]["message"]


def test_a_damaged_xlsx_is_refused(app, survey, scenario):
    content = xlsx([HEADER, ["R1", "STC", 5, 5]])[:400]
    assert faults(rejected(app, survey, scenario, content))[0][2] == "unreadable-xlsx"


# -- aggregates ---------------------------------------------------------------------------------

AGG_HEADER = ["unit_code", "indicator", "n", "satisfied_share", "mean"]


def test_aggregate_faults_are_listed_by_row(app, survey, scenario):
    rows = [["STC", "SIPAS", 120, "0.9", ""], ["SNV", "SIPAS", "12.5", "0.9", ""],
            ["STC", "SIPAS", 100, "0.8", ""], ["SNV", "OTHER", 50, "0.7", ""],
            ["SNV", "SIPAS", 50, "1.7", ""], ["SXD", "SIPAS", 50, "0.5", ""]]
    error = rejected(app, survey, scenario, table(AGG_HEADER, rows))
    assert faults(error) == [(3, "n", "bad-n"), (4, "indicator", "duplicate-row"),
                             (5, "indicator", "unknown-indicator"),
                             (6, "satisfied_share", "off-scale"),
                             (7, "unit_code", "unknown-unit")]


def test_an_aggregate_file_without_the_value_column_is_refused(app, survey, scenario):
    error = rejected(app, survey, scenario, table(["unit_code", "indicator", "n", "mean"],
                                                  [["STC", "SIPAS", 40, "4.2"]]))
    assert faults(error) == [(1, "satisfied_share", "missing-column")]


# -- mappings -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"items": [{"item_code": "2.4", "questions": ["Q1"]}]}, "items[0].item_code"),
    ({"items": [{"item_code": "8.1", "questions": ["Q1"]}]}, "items[0].item_code"),
    ({"items": [{"item_code": "8.2", "method": "median", "questions": ["Q1"]}]},
     "items[0].method"),
    ({"items": [{"item_code": "8.2"}]}, "items[0].questions"),
    ({"missing_values": ["", "5"]}, "missing_values"),
    ({"stratum_weights": {"DV1": "2"}}, "columns.stratum"),
    ({"min_valid_n": 0}, "min_valid_n"),
])
def test_mapping_documents_are_checked_against_the_framework(app, survey, scenario, change,
                                                             field):
    before = head(app)
    with pytest.raises(InvalidInput) as caught:
        survey.define_mapping(SECRETARIAT, sipas_mapping(code="BAD", **change))
    assert caught.value.field == field
    assert head(app) == before


def test_a_mapping_names_an_existing_framework(app, survey, scenario):
    with pytest.raises(NotFound):
        survey.define_mapping(SECRETARIAT, sipas_mapping(code="BAD", framework_code="XA-2031"))


def excel_style_xlsx(rows: list[list[object]], prefix: str = "x") -> bytes:
    """A workbook as Excel writes it: shared strings (one as rich text with a phonetic run),
    prefixed namespaces, cells without references."""
    import zipfile

    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    strings: list[str] = []
    body = []
    for number, row in enumerate(rows, start=1):
        cells = []
        for value in row:
            if isinstance(value, str):
                strings.append(value)
                cells.append(f'<{prefix}:c t="s"><{prefix}:v>{len(strings) - 1}</{prefix}:v>'
                             f"</{prefix}:c>")
            else:
                cells.append(f"<{prefix}:c><{prefix}:v>{value}</{prefix}:v></{prefix}:c>")
        body.append(f'<{prefix}:row r="{number}">{"".join(cells)}</{prefix}:row>')
    sheet = (f'<?xml version="1.0" encoding="UTF-8"?><{prefix}:worksheet xmlns:{prefix}="{main}">'
             f'<{prefix}:sheetData>{"".join(body)}</{prefix}:sheetData></{prefix}:worksheet>')
    items = []
    for text in strings:
        if text == "STC":  # rich text runs and a phonetic guide, as Excel may store them
            items.append("<si><r><t>S</t></r><r><rPr><b/></rPr><t>TC</t></r>"
                         "<rPh sb=\"0\" eb=\"1\"><t>ignored</t></rPh></si>")
        else:
            escaped = text.replace("&", "&amp;").replace("<", "&lt;")
            items.append(f'<si><t xml:space="preserve">{escaped}</t></si>')
    shared = (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{main}" '
              f'count="{len(strings)}">{"".join(items)}</sst>')
    workbook = (f'<workbook xmlns="{main}" xmlns:r="http://schemas.openxmlformats.org/'
                'officeDocument/2006/relationships"><sheets><sheet name="Kết quả" sheetId="1" '
                'r:id="rId1"/></sheets></workbook>')
    rels = ('<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '</Relationships>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        archive.writestr("xl/sharedStrings.xml", shared)
    return out.getvalue()


def test_an_excel_workbook_with_shared_strings_is_read(app, survey):
    scenario = cycle_with_units(app, units=("STC", "SỞ-NV"))
    survey.define_mapping(SECRETARIAT, sipas_mapping())
    answers = [(4, "Không biết"), (5, 5), (2, 2), (4, 4), (3, 5)]
    rows = [HEADER, *respondents("STC", [(5, 4)] * 5), *respondents("SỞ-NV", answers,
                                                                    prefix="R")]
    report = import_bytes(survey, scenario, excel_style_xlsx(rows), name="ket-qua.xlsx")
    by_unit = {r["unit_code"]: r for r in report["results"]}
    assert (by_unit["STC"]["n"], by_unit["STC"]["points"]) == (5, "3.00")
    assert by_unit["SỞ-NV"]["detail"]["questions"]["Q2"]["missing"] == 1
    # SỞ-NV: Q1 4,5,2,4,3 → 3/5; Q2 5,2,4,5 valid → 3/4; index 0.675 → 2.03
    assert (by_unit["SỞ-NV"]["index"], by_unit["SỞ-NV"]["points"]) == ("0.6750", "2.03")
