"""Rule 12: evidence files are linked to items by hash; linking twice is a no-op, withdrawal
needs a reason, and the explanation phase adds supplementary evidence only."""

from __future__ import annotations

from domain.errors import ExplanationNotAllowed, NotFound, ScorecardLocked
from domain.scorecard.model import Scorecard
from domain.scorecard.state import EvidencePurpose
from tests.app.helpers import events_of, rejected, store_blob
from tests.builders import adjust, cycle_with_units, officer

PDF = "application/pdf"


def test_evidence_is_attached_then_withdrawn_with_a_reason(app, tmp_path):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    blob = store_blob(tmp_path, b"%PDF ke hoach CCHC 2025")
    app.attach_evidence(officer("STC"), card_ref, "1.1.1", blob, "Kế hoạch CCHC.pdf", PDF)
    [attached] = events_of(app, card_ref, Scorecard.EvidenceAttached)
    assert (attached.item_code, attached.sha256, attached.size, attached.purpose) == (
        "1.1.1", blob.sha256, blob.size, EvidencePurpose.SELF_ASSESSMENT)
    assert attached.file_name == "Kế hoạch CCHC.pdf"
    assert app.scorecard(card_ref).item("1.1.1").evidence == [blob.sha256]

    app.withdraw_evidence(officer("STC"), card_ref, "1.1.1", blob.sha256, "Tải nhầm tệp")
    [withdrawn] = events_of(app, card_ref, Scorecard.EvidenceWithdrawn)
    assert (withdrawn.sha256, withdrawn.reason) == (blob.sha256, "Tải nhầm tệp")
    card = app.scorecard(card_ref)
    assert card.item("1.1.1").evidence == []
    assert card.evidence == {}


def test_attaching_the_same_file_twice_to_one_item_writes_no_event(app, tmp_path):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    blob = store_blob(tmp_path, b"bao cao quy")
    app.attach_evidence(officer("STC"), card_ref, "1.2", blob, "bc.pdf", PDF)
    before = app.recorder.max_notification_id()
    again = store_blob(tmp_path, b"bao cao quy")  # the same bytes uploaded again
    result = app.attach_evidence(officer("STC"), card_ref, "1.2", again, "bc (1).pdf", PDF)
    assert result.position is None
    assert app.recorder.max_notification_id() == before
    # the same file on another item is a separate link
    app.attach_evidence(officer("STC"), card_ref, "1.3", blob, "bc.pdf", PDF)
    assert len(events_of(app, card_ref, Scorecard.EvidenceAttached)) == 2


def test_withdrawing_a_file_not_attached_to_the_item_is_refused(app, tmp_path):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    blob = store_blob(tmp_path, b"x")
    app.attach_evidence(officer("STC"), card_ref, "1.2", blob, "x.pdf", PDF)
    rejected(app, NotFound, lambda: app.withdraw_evidence(
        officer("STC"), card_ref, "1.3", blob.sha256, "Nhầm"), item="1.3", field="sha256")


def test_supplementary_evidence_in_the_explanation_phase_is_listed_on_the_explanation(
        app, tmp_path):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    card_ref = scenario.scorecards["STC"]
    blob = store_blob(tmp_path, b"van ban xin loi 3 ho so")
    app.attach_evidence(officer("STC"), card_ref, "2.4", blob, "xin-loi.pdf", PDF)
    [attached] = events_of(app, card_ref, Scorecard.EvidenceAttached)
    assert attached.purpose is EvidencePurpose.EXPLANATION
    assert app.scorecard(card_ref).evidence[f"2.4/{blob.sha256}"]["purpose"] == "explanation"
    app.explain(officer("STC"), card_ref, "2.4", "Đã xin lỗi bằng văn bản, xem tệp kèm")
    [explained] = events_of(app, card_ref, Scorecard.ExplanationSubmitted)
    assert explained.evidence == [blob.sha256]


def test_supplementary_evidence_goes_only_to_items_that_may_be_explained(app, tmp_path):
    scenario = cycle_with_units(app)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    rejected(app, ExplanationNotAllowed, lambda: app.attach_evidence(
        officer("STC"), scenario.scorecards["STC"], "2.3", store_blob(tmp_path, b"y"), "y.pdf",
        PDF), item="2.3")


def test_original_evidence_cannot_be_withdrawn_during_the_explanation_phase(app, tmp_path):
    scenario = cycle_with_units(app)
    card_ref = scenario.scorecards["STC"]
    original = store_blob(tmp_path, b"QD xin loi goc")
    app.attach_evidence(officer("STC"), card_ref, "2.4", original, "goc.pdf", PDF)
    scenario.to_explanation({"STC": [adjust("2.4", "0")]})
    rejected(app, ScorecardLocked, lambda: app.withdraw_evidence(
        officer("STC"), card_ref, "2.4", original.sha256, "Thay bằng bản mới"), item="2.4")
    assert app.scorecard(card_ref).item("2.4").evidence == [original.sha256]
    # supplementary evidence of the explanation phase can be withdrawn
    extra = store_blob(tmp_path, b"bo sung")
    app.attach_evidence(officer("STC"), card_ref, "2.4", extra, "bo-sung.pdf", PDF)
    app.withdraw_evidence(officer("STC"), card_ref, "2.4", extra.sha256, "Tải nhầm")
    assert app.scorecard(card_ref).item("2.4").evidence == [original.sha256]
    app.explain(officer("STC"), card_ref, "2.4", "Giải trình")
    [explained] = events_of(app, card_ref, Scorecard.ExplanationSubmitted)
    assert explained.evidence == []
