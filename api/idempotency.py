"""`Idempotency-Key` on every POST: a retried request gets the stored response, never a second
write. Keys are scoped to the caller's credentials; the same key with a different request is a
422 problem, and a key whose first request is still running is a 409.

Responses are kept in `api_idempotency` beside the views (same database)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEM_MEDIA_TYPE
from projections.store import ViewStore

MAX_KEY = 200


class IdempotencyStore:
    def __init__(self, views: ViewStore):
        self.views = views
        views.ensure_table("CREATE TABLE IF NOT EXISTS api_idempotency (scope TEXT NOT NULL, "
                           "key TEXT NOT NULL, request_hash TEXT NOT NULL, status INTEGER, "
                           "headers TEXT, body TEXT, created_at TEXT NOT NULL, "
                           "PRIMARY KEY (scope, key))")

    def claim(self, scope: str, key: str, request_hash: str) -> tuple[str, Any]:
        """("new", None) | ("replay", stored) | ("conflict", None) | ("running", None)."""
        with self.views.transaction() as cur:
            cur.execute("SELECT request_hash, status, headers, body FROM api_idempotency "
                        "WHERE scope = %s AND key = %s", (scope, key))
            row = cur.fetchone()
            if row is None:
                cur.execute("INSERT INTO api_idempotency (scope, key, request_hash, created_at) "
                            "VALUES (%s, %s, %s, %s)",
                            (scope, key, request_hash, datetime.now(UTC).isoformat()))
                return "new", None
        if row[0] != request_hash:
            return "conflict", None
        if row[1] is None:
            return "running", None
        return "replay", (int(row[1]), json.loads(row[2]), base64.b64decode(row[3]))

    def complete(self, scope: str, key: str, status: int, headers: list[tuple[str, str]],
                 body: bytes) -> None:
        with self.views.transaction() as cur:
            cur.execute("UPDATE api_idempotency SET status = %s, headers = %s, body = %s "
                        "WHERE scope = %s AND key = %s",
                        (status, json.dumps(headers), base64.b64encode(body).decode(), scope,
                         key))

    def release(self, scope: str, key: str) -> None:
        with self.views.transaction() as cur:
            cur.execute("DELETE FROM api_idempotency WHERE scope = %s AND key = %s",
                        (scope, key))


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"idempotency-key")
        if (scope["type"] != "http" or scope["method"] != "POST" or key is None
                or b"authorization" not in headers  # the app answers 401 first
                # Uploads are idempotent by content hash already (evidence, survey files);
                # buffering them whole to hash the request is not worth their size.
                or headers.get(b"content-type", b"").startswith(b"multipart/")):
            await self.app(scope, receive, send)
            return
        store: IdempotencyStore = scope["app"].state.idempotency
        key_text = key.decode("latin-1")
        if not 0 < len(key_text) <= MAX_KEY:
            await _problem(send, 422, "invalid-input",
                           f"Idempotency-Key must be 1..{MAX_KEY} characters")
            return
        body = await _read_body(receive)
        caller = hashlib.sha256(headers.get(b"authorization", b"")).hexdigest()
        request_hash = hashlib.sha256(b"\n".join([
            scope["path"].encode(), scope.get("query_string", b""),
            headers.get(b"content-type", b""), body])).hexdigest()
        state, stored = await to_thread.run_sync(store.claim, caller, key_text, request_hash)
        if state == "conflict":
            await _problem(send, 422, "idempotency-key-reused",
                           "this Idempotency-Key was used with a different request")
            return
        if state == "running":
            await _problem(send, 409, "idempotency-key-in-use",
                           "the first request with this Idempotency-Key is still running")
            return
        if state == "replay":
            status, stored_headers, stored_body = stored
            await send({"type": "http.response.start", "status": status,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                    for k, v in stored_headers]
                        + [(b"idempotent-replay", b"true")]})
            await send({"type": "http.response.body", "body": stored_body})
            return
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def replay_receive() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [(k.decode("latin-1"), v.decode("latin-1"))
                                       for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await to_thread.run_sync(store.release, caller, key_text)
            raise
        if captured["status"] >= 500:
            # A failure may be retried with the same key.
            await to_thread.run_sync(store.release, caller, key_text)
        else:
            await to_thread.run_sync(store.complete, caller, key_text, captured["status"],
                                     captured["headers"], captured["body"])


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _problem(send: Send, status: int, rule: str, detail: str) -> None:
    body = json.dumps({"type": f"/problems/{rule}", "title": rule.replace("-", " ").capitalize(),
                       "status": status, "detail": detail, "field": "Idempotency-Key"}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
