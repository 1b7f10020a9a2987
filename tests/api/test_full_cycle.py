"""One whole cycle over HTTP, every actor with their own token."""

from datetime import timedelta

from domain.actors import Role
from tests.builders import schedule_from, small_framework

PDF = b"%PDF-1.7\n% Ke hoach CCHC 2025\n" + b"0" * 2000


def post(http, path, headers, json=None, expect=200, **kwargs):
    response = http.client.post(path, headers=headers, json=json, **kwargs)
    assert response.status_code == expect, response.text
    return response


def test_a_cycle_runs_end_to_end_over_http(http, clock):
    secretariat = http.token(Role.SECRETARIAT, name="snv.cchc")
    council = http.token(Role.COUNCIL, name="hd.chu-tich")
    appraiser = http.token(Role.APPRAISER, name="tdd.nguyen-van-a")
    officer = http.token(Role.UNIT_OFFICER, "STC", name="stc.chuyen-vien")
    head = http.token(Role.UNIT_HEAD, "STC", name="stc.giam-doc")
    snv_head = http.token(Role.UNIT_HEAD, "SNV", name="snv.giam-doc")
    integrator = http.token(Role.INTEGRATOR, name="cong-thong-tin")

    framework = post(http, "/api/v1/frameworks", secretariat,
                     {"document": small_framework()}, expect=201).json()
    post(http, f"/api/v1/frameworks/{framework['id']}/publication", secretariat)
    schedule = {k: v.isoformat() for k, v in schedule_from(clock()).items()}
    cycle = post(http, "/api/v1/cycles", secretariat, {
        "province": "Khánh Hòa", "year": 2025, "title": "Chỉ số CCHC năm 2025",
        "groups": [{"code": "SO", "name": "Khối sở", "framework_id": framework["id"]}],
        "schedule": schedule}, expect=201).json()
    cycle_id = cycle["id"]
    post(http, f"/api/v1/cycles/{cycle_id}/units", secretariat, {"units": [
        {"code": "STC", "name": "Sở Tài chính", "group": "SO"},
        {"code": "SNV", "name": "Sở Nội vụ", "group": "SO"},
        {"code": "TTT", "name": "Thanh tra tỉnh", "group": "SO", "ranked": False}]})
    post(http, f"/api/v1/cycles/{cycle_id}/appraisers", secretariat,
         {"appraiser_id": "tdd.nguyen-van-a", "unit_codes": ["STC", "SNV", "TTT"]})
    post(http, f"/api/v1/cycles/{cycle_id}/phase", secretariat,
         {"to_phase": "self_assessment"})
    cards = {row["unit_code"]: row["scorecard_id"] for row in http.client.get(
        f"/api/v1/cycles/{cycle_id}/groups/SO/ranking", headers=secretariat,
        params={"min_position": http.app.recorder.max_notification_id()}).json()["rows"]}

    full = [{"item_code": "1.1.1", "declared": {"done": True}, "note": "QĐ ban hành 10/01"},
            {"item_code": "1.1.2", "declared": {"numerator": 20, "denominator": 20}},
            {"item_code": "1.2", "declared": {"violations": 0}},
            {"item_code": "1.3", "declared": {"numerator": 3, "denominator": 10}},
            {"item_code": "2.1", "declared": {"numerator": 4, "denominator": 4}},
            {"item_code": "2.2", "declared": {"count": 2}},
            {"item_code": "2.3", "declared": {"level": "tinh"}},
            {"item_code": "2.4", "points": "1"}]
    written = post(http, f"/api/v1/scorecards/{cards['STC']}/self-scores", officer,
                   {"items": full})
    assert written.headers["ETag"] == '"9"'
    stale = http.client.post(f"/api/v1/scorecards/{cards['STC']}/self-scores",
                             headers={**officer, "If-Match": '"3"'},
                             json={"items": [{"item_code": "2.4", "points": "0.5"}]})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    evidence = post(http, f"/api/v1/scorecards/{cards['STC']}/evidence", officer,
                    data={"item_code": "1.1.1"},
                    files={"file": ("Kế hoạch CCHC.pdf", PDF, "application/pdf")},
                    expect=201).json()
    assert evidence["media_type"] == "application/pdf"
    download = http.client.get(f"/api/v1/scorecards/{cards['STC']}/evidence/"
                               f"{evidence['sha256']}", headers=officer)
    assert download.content == PDF
    assert "K%E1%BA%BF%20ho%E1%BA%A1ch%20CCHC.pdf" in download.headers["content-disposition"]
    refused = http.client.post(f"/api/v1/scorecards/{cards['STC']}/submission", headers=officer)
    assert refused.status_code == 403 and refused.json()["type"] == "/problems/not-permitted"
    post(http, f"/api/v1/scorecards/{cards['STC']}/submission", head)
    for unit, token in (("SNV", snv_head), ("TTT", None)):
        token = token or http.token(Role.UNIT_HEAD, unit)
        post(http, f"/api/v1/scorecards/{cards[unit]}/self-scores", token, {"items": full})
        post(http, f"/api/v1/scorecards/{cards[unit]}/submission", token)

    post(http, f"/api/v1/cycles/{cycle_id}/phase", secretariat,
         {"to_phase": "appraisal_round_1"})
    post(http, f"/api/v1/scorecards/{cards['STC']}/appraisals", appraiser, {"round": 1, "items": [
        {"item_code": "1.3", "decision": "adjusted", "points": "0.75",
         "reason": "Chỉ kiểm tra 15% đơn vị"}]})
    for card in cards.values():
        post(http, f"/api/v1/scorecards/{card}/appraisals/1/remaining-accepted", appraiser)
    post(http, f"/api/v1/scorecards/{cards['SNV']}/penalties", appraiser,
         {"entry_id": "P1", "points": "0.5", "reason": "Chậm báo cáo đột xuất"})
    post(http, f"/api/v1/cycles/{cycle_id}/phase", secretariat, {"to_phase": "explanation"})
    post(http, f"/api/v1/scorecards/{cards['STC']}/explanations", officer,
         {"item_code": "1.3", "text": "Đã kiểm tra 3/10 đơn vị, đạt 30% kế hoạch"})
    clock.now = clock.now + timedelta(days=61)
    post(http, f"/api/v1/cycles/{cycle_id}/phase", secretariat,
         {"to_phase": "appraisal_round_2"})
    post(http, f"/api/v1/scorecards/{cards['STC']}/appraisals", appraiser, {"round": 2, "items": [
        {"item_code": "1.3", "decision": "adjusted", "points": "1.5",
         "reason": "Giải trình hợp lý"}]})
    post(http, f"/api/v1/cycles/{cycle_id}/survey-points", secretariat, {
        "survey_import_id": "00000000-0000-4000-8000-000000000042",
        "results": [{"unit_code": u, "item_code": i, "points": p}
                    for u in ("STC", "SNV", "TTT") for i, p in (("8.1", "2.7"),
                                                                ("8.2", "2.55"))]})
    post(http, f"/api/v1/cycles/{cycle_id}/phase", secretariat,
         {"to_phase": "council_approval"})
    early = http.client.get(f"/api/v1/cycles/{cycle_id}/groups/SO/ranking", headers=integrator)
    assert early.status_code == 403
    post(http, f"/api/v1/cycles/{cycle_id}/approval", council,
         {"decision_ref": "Biên bản số 02/BB-HĐ"})
    published = post(http, f"/api/v1/cycles/{cycle_id}/publication", secretariat,
                     {"decision_ref": "QĐ 141/QĐ-UBND", "decision_date": "2026-02-14"})

    ranking = http.client.get(f"/api/v1/cycles/{cycle_id}/groups/SO/ranking",
                              headers=integrator,
                              params={"min_position": published.headers["X-Event-Position"]})
    assert ranking.status_code == 200
    rows = ranking.json()["rows"]
    assert [(r["rank"], r["unit_code"], r["total_display"]) for r in rows] == [
        (1, "STC", "19.25"), (2, "SNV", "18.75")]  # TTT is evaluated only: not public
    cached = http.client.get(f"/api/v1/cycles/{cycle_id}/groups/SO/ranking",
                             headers={**integrator, "If-None-Match": ranking.headers["ETag"]})
    assert cached.status_code == 304

    correction = post(http, f"/api/v1/scorecards/{cards['SNV']}/corrections",
                      {**secretariat, "Idempotency-Key": "fix-snv-1.2"}, {
                          "item_code": "1.2", "points": "1", "reason": "Thiếu báo cáo quý IV",
                          "decision_ref": "QĐ 200/QĐ-UBND"})
    again = http.client.post(f"/api/v1/scorecards/{cards['SNV']}/corrections", json={
        "item_code": "1.2", "points": "1", "reason": "Thiếu báo cáo quý IV",
        "decision_ref": "QĐ 200/QĐ-UBND"}, headers={**secretariat,
                                                    "Idempotency-Key": "fix-snv-1.2"})
    assert again.json() == correction.json() and again.headers["idempotent-replay"] == "true"
    audit = http.client.get("/api/v1/audit", headers=secretariat, params={
        "cycle_id": cycle_id, "kind": "correction",
        "min_position": correction.headers["X-Event-Position"]}).json()
    assert [(r["unit_code"], r["item_code"], r["old_value"], r["new_value"], r["actor_id"],
             r["decision_ref"]) for r in audit["rows"]] == [
        ("SNV", "1.2", "1.50", "1.00", "snv.cchc", "QĐ 200/QĐ-UBND")]
    feed = http.client.get("/api/v1/feed", headers=integrator).json()
    assert [e["type"] for e in feed["entries"]][-2:] == ["cycle.results_published",
                                                         "scorecard.points_corrected"]
