"""The monitor reports ok, then failed (logged at ERROR); the command line works end to end:
keys, checkpoints, proofs checked offline, and `parindex verify` naming the first bad position."""

from __future__ import annotations

import logging
import time

import pytest

from api.cli import main
from domain.store.integrity import IntegrityMonitor
from tests.integrity.helpers import RawStore, fill


def test_the_monitor_reports_ok_then_failed(app, caplog):
    positions = fill(app, 4)
    monitor = IntegrityMonitor(app.recorder, interval_seconds=0.05)
    assert monitor.status()["state"] == "pending"
    thread, stop = monitor.start_thread()
    try:
        deadline = time.monotonic() + 5
        while monitor.status()["state"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.01)
        status = monitor.status()
        assert (status["state"], status["ok"]) == ("ok", True)
        assert (status["verified_size"], status["verified_position"]) == (4, positions[-1])
        assert status["verified_at"].endswith("Z")
    finally:
        stop.set()
        thread.join(timeout=5)

    RawStore(app).run(("UPDATE {events} SET state = ? WHERE {pos} = ?", (b"{}", positions[1])))
    with caplog.at_level(logging.ERROR, logger="parindex.integrity"):
        monitor.run_once()
    status = monitor.status()
    assert (status["state"], status["ok"]) == ("failed", False)
    assert f"position {positions[1]}" in status["problem"]
    assert status["verified_size"] == 4  # the last good verification stays reported
    assert "VERIFICATION FAILED" in caplog.text and f"position {positions[1]}" in caplog.text


def parindex(*argv: str) -> int:
    return main(list(argv))


def test_the_command_line_end_to_end(store_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PARINDEX_DATABASE_URL", store_url)
    monkeypatch.setenv("PARINDEX_BLOB_DIR", str(tmp_path / "blobs"))
    key = tmp_path / "keys" / "sign.key"
    assert parindex("keys", "generate", "--out", str(key)) == 0
    assert (key.stat().st_mode & 0o777) == 0o600
    assert parindex("keys", "generate", "--out", str(key)) == 1  # never overwritten silently
    monkeypatch.setenv("PARINDEX_SIGNING_KEY_FILE", str(key))
    for name in ("a", "b", "c"):
        assert parindex("token", "create", "--role", "inspector", "--name", name) == 0
    assert parindex("checkpoint", "export", "--fresh", "--out", str(tmp_path / "cp1.json")) == 0
    assert parindex("token", "create", "--role", "council", "--name", "d") == 0
    assert parindex("checkpoint", "create") == 0
    assert parindex("checkpoint", "export", "--out", str(tmp_path / "cp2.json")) == 0
    capsys.readouterr()

    # proofs written by the system, checked offline
    assert parindex("proof", "inclusion", "2", "--size", str(tmp_path / "cp1.json"),
                    "--out", str(tmp_path / "inclusion.json")) == 0
    assert parindex("proof", "consistency", str(tmp_path / "cp1.json"),
                    str(tmp_path / "cp2.json"), "--out", str(tmp_path / "consistency.json")) == 0
    public = f"{key}.pub"
    assert parindex("proof", "check", str(tmp_path / "inclusion.json"), "--checkpoint",
                    str(tmp_path / "cp1.json"), "--public-key", public) == 0
    assert parindex("proof", "check", str(tmp_path / "consistency.json"), "--checkpoint",
                    str(tmp_path / "cp1.json"), "--checkpoint", str(tmp_path / "cp2.json"),
                    "--public-key", public) == 0
    assert parindex("proof", "check", str(tmp_path / "inclusion.json"), "--checkpoint",
                    str(tmp_path / "cp2.json")) == 1  # proved against another size
    assert "REJECTED" in capsys.readouterr().err

    assert parindex("verify", "--checkpoint", str(tmp_path / "cp1.json")) == 0
    assert "OK: 4 entries" in capsys.readouterr().out

    from domain.application import ParIndex
    from domain.store.config import settings_from_url

    app = ParIndex(settings_from_url(store_url))
    try:
        raw = RawStore(app)
        (rows,) = raw.run("SELECT MIN({pos}) FROM {events}", unguard=False)
        second = rows[0][0] + 1
        raw.run(("UPDATE {events} SET topic = ? WHERE {pos} = ?", ("x:Forged", second)))
    finally:
        app.close()
    assert parindex("verify", "--checkpoint", str(tmp_path / "cp1.json")) == 1
    err = capsys.readouterr().err
    assert f"FAILED at position {second}:" in err


@pytest.mark.parametrize("argv", [["proof", "check", "/nonexistent.json", "--checkpoint",
                                   "/nonexistent-cp.json"]])
def test_unreadable_files_are_reported(argv, capsys):
    assert parindex(*argv) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_services_are_configured_from_the_environment(app, tmp_path):
    from domain.store.checkpoints import CheckpointError
    from domain.store.integrity import Checkpointer, IntegritySettings
    from tests.integrity.helpers import signing_key

    assert Checkpointer.from_env(app.recorder, environ={}) is None  # no key, no checkpoints
    key = signing_key(tmp_path)
    environ = {"PARINDEX_SIGNING_KEY_FILE": str(tmp_path / "keys" / "sign.key"),
               "PARINDEX_CHECKPOINT_EVERY_EVENTS": "2",
               "PARINDEX_CHECKPOINT_EVERY_SECONDS": "30",
               "PARINDEX_INTEGRITY_CHECK_SECONDS": "5"}
    checkpointer = Checkpointer.from_env(app.recorder, environ=environ)
    assert (checkpointer.every_events, checkpointer.every_seconds) == (2, 30)
    monitor = IntegrityMonitor.from_env(app.recorder, environ=environ)
    assert monitor.interval_seconds == 5
    assert [k.public_bytes_raw() for k in monitor.trusted_keys] == [
        key.public_key().public_bytes_raw()]
    with pytest.raises(CheckpointError, match="must be a number"):
        IntegritySettings.from_env({"PARINDEX_CHECKPOINT_EVERY_EVENTS": "often"})
    with pytest.raises(CheckpointError, match="cannot read the signing key"):
        Checkpointer.from_env(app.recorder,
                              environ={"PARINDEX_SIGNING_KEY_FILE": str(tmp_path / "nope")})


def test_verify_prints_a_json_report(store_url, monkeypatch, capsys):
    import json

    monkeypatch.setenv("PARINDEX_DATABASE_URL", store_url)
    assert parindex("token", "create", "--role", "inspector", "--name", "a") == 0
    capsys.readouterr()
    assert parindex("verify", "--json", "--no-evidence") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["tree_size"], report["problems"]) == (True, 1, [])
