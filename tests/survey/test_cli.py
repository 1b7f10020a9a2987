"""`parindex survey …` against the same store as the `app` fixture."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from api.cli import main
from tests.builders import cycle_with_units
from tests.survey.helpers import HEADER, respondents, sipas_mapping, standard_file, table


@pytest.fixture
def cli_env(store_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PARINDEX_DATABASE_URL", store_url)
    monkeypatch.setenv("PARINDEX_BLOB_DIR", str(tmp_path / "blobs"))
    return tmp_path


def test_define_dry_run_import_decide_and_show(app, cli_env, capsys):
    scenario = cycle_with_units(app)
    mapping = cli_env / "mapping.json"
    mapping.write_text(json.dumps(sipas_mapping(), ensure_ascii=False), encoding="utf-8")
    data = cli_env / "sipas.csv"
    data.write_bytes(standard_file())
    assert main(["survey", "mapping", "define", str(mapping)]) == 0
    assert main(["survey", "import", str(data), "--cycle", "Khánh Hòa/2025", "--mapping",
                 "SO-SIPAS", "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "status:    dry_run" in out.out and "STC" in out.out and "1.94" in out.out
    assert "reading" in out.err and "100%" in out.err  # the progress bar, on stderr
    assert app.scorecard(scenario.scorecards["STC"]).item("8.2").survey_points is None
    assert main(["survey", "import", str(data), "--cycle", str(scenario.cycle_id),
                 "--mapping", "SO-SIPAS", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "imported"
    assert app.scorecard(scenario.scorecards["STC"]).item("8.2").survey_points == Decimal("1.94")
    assert main(["survey", "show", report["import_id"]]) == 0
    assert json.loads(capsys.readouterr().out)["import_id"] == report["import_id"]
    assert main(["survey", "rows", report["import_id"], "--unit", "SNV", "--limit", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["total_rows"] == 6

    small = cli_env / "small.csv"
    small.write_bytes(table(HEADER, respondents("STC", [(5, 5)] * 2)
                            + respondents("SNV", [(4, 4)] * 6)))
    assert main(["survey", "import", str(small), "--cycle", "Khánh Hòa/2025", "--mapping",
                 "SO-SIPAS", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["supersedes"] == report["import_id"]
    assert main(["survey", "decide", second["import_id"], "--unit", "STC", "--apply-anyway",
                 "--reason", "Hội đồng đồng ý", "--by", "snv.phong-cchc"]) == 0
    capsys.readouterr()
    card = app.scorecard(scenario.scorecards["STC"])
    assert card.item("8.2").survey_points == Decimal("3.00")


def test_a_refused_file_lists_its_rows_and_exits_1(app, cli_env, capsys):
    cycle_with_units(app)
    mapping = cli_env / "mapping.json"
    mapping.write_text(json.dumps(sipas_mapping()), encoding="utf-8")
    assert main(["survey", "mapping", "define", str(mapping)]) == 0
    bad = cli_env / "bad.csv"
    bad.write_bytes(table(HEADER, [["R1", "STC", 7, 5], ["R1", "STC", 4, 4]]))
    before = app.recorder.max_notification_id()
    assert main(["survey", "import", str(bad), "--cycle", "Khánh Hòa/2025", "--mapping",
                 "SO-SIPAS"]) == 1
    err = capsys.readouterr().err
    assert "row 2 column Q1: [off-scale]" in err
    assert "row 3 column respondent_id: [duplicate-respondent]" in err
    assert app.recorder.max_notification_id() == before
