"""Logs hashed and signed by earlier versions of parindex that every later version must verify.

`fixtures/log_v*.json` each hold a small log exactly as the store kept it — the events rows
(position, id, version, topic, state bytes), their integrity rows (position and leaf index of
the row's last event, its leaf hashes, chain hash) — and a checkpoint signed over it with its
public key. They are generated once and never regenerated: if a later version hashes entries
or reads rows differently, `test_fixture_log.py` fails.

- log_v1.json: parindex 0.1, one integrity row per event.
- log_v2.json: parindex 0.2, a save's events share a row (one save of several tokens here).

For a new format, write a new file: `.venv/bin/python -m tests.integrity.fixture_log
log_v3.json`, and add it to FIXTURES.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from domain.store.config import settings_from_url

HERE = Path(__file__).parent / "fixtures"
FIXTURES = (HERE / "log_v1.json", HERE / "log_v2.json")
FORMAT = "parindex-fixture-log/1"
WRITTEN_BY = "parindex 0.2.0 (eventsourcing 9.5.6)"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def generate(target: Path) -> None:
    from domain.actors import Role
    from domain.application import ParIndex
    from domain.store.checkpoints import generate_key_file, load_signing_key
    from domain.store.integrity import Checkpointer
    from tests.builders import SECRETARIAT, small_framework
    from tests.integrity.helpers import OPERATOR, fill_in_one_save

    with tempfile.TemporaryDirectory() as tmp:
        app = ParIndex(settings_from_url(f"sqlite:///{tmp}/fixture.sqlite3"))
        try:
            for holder, role in (("thanh-tra.nguyen-van-a", Role.INSPECTOR),
                                 ("so-noi-vu.tran-thi-b", Role.SECRETARIAT)):
                app.issue_token(OPERATOR, holder, role)
            framework = app.define_framework(SECRETARIAT, small_framework(2025))
            app.publish_framework(SECRETARIAT, framework.aggregate_id)
            _, token = app.issue_token(OPERATOR, "hoi-dong.le-van-c", Role.COUNCIL)
            app.revoke_token(OPERATOR, token.aggregate_id, "Hết nhiệm kỳ")
            fill_in_one_save(app, 5, prefix="đoàn-kiểm-tra")
            _, public = generate_key_file(Path(tmp) / "sign.key")
            checkpoint = Checkpointer(app.recorder, load_signing_key(Path(tmp) / "sign.key")
                                      ).run_once(force=True)
            assert checkpoint is not None
            recorder = app.recorder
            events = [{"position": e.position, "originator_id": str(e.originator_id),
                       "originator_version": e.originator_version, "topic": e.topic,
                       "state_base64": base64.b64encode(e.state).decode("ascii")}
                      for e in (recorder.entry(row[0]) for row in recorder.select_entries(0, 999))
                      if e is not None]
            integrity = [{"position": r.position, "leaf_index": r.leaf_index,
                          "leaf_hash": bytes(r.leaf_hash).hex(),
                          "chain_hash": bytes(r.chain_hash).hex()}
                         for r in recorder.select_integrity(0, 999)]
        finally:
            app.close()
    document = {"format": FORMAT, "written_by": WRITTEN_BY,
                "events": events, "integrity": integrity, "checkpoint": checkpoint.to_dict(),
                "public_key": public}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    print(f"wrote {target}: {len(events)} events, checkpoint of size {checkpoint.tree_size}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.integrity.fixture_log log_vN.json")
    destination = HERE / sys.argv[1]
    if destination.exists():
        raise SystemExit(f"{destination} exists; fixtures are never regenerated")
    generate(destination)
