"""The agents' API refuses oversized bodies before it reads them, and before any token is
checked (red team: a 150 MB body was read whole, then parsed, then refused: 7 s and
+400 MB for one request, no token needed). Requests go to the ASGI app directly, so the
test sees exactly how much of a body the app pulled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from runners.coordinator import MAX_BODY_BYTES, PREFIX, coordinator_app, router
from runners.store.jobstore import JobStore, open_jobs

CHUNK = 64 * 1024
FLOOD = 64 * 1024 * 1024  # what an attacker offers; far over the cap


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = open_jobs(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        yield opened
    finally:
        opened.engine.dispose()


@pytest.fixture(params=["coordinator", "serve"])
def app(request: pytest.FixtureRequest, store: JobStore) -> FastAPI:
    """The coordinator alone, and its router mounted beside Slack as `serve` does."""
    if request.param == "coordinator":
        return coordinator_app(store)
    mounted = FastAPI()
    mounted.include_router(router(store))
    return mounted


def post(
    app: FastAPI, path: str, body: bytes | int, headers: dict[str, str]
) -> tuple[int, int, dict[str, Any]]:
    """(status, body bytes the app pulled, JSON reply). An int body is that many bytes,
    streamed in chunks with no Content-Length unless the headers give one."""
    pulled = 0
    sent: list[dict[str, Any]] = []
    total = body if isinstance(body, int) else len(body)
    chunk = b"x" * CHUNK

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        part = body[pulled:] if isinstance(body, bytes) else chunk[: min(CHUNK, total - pulled)]
        pulled += len(part)
        return {"type": "http.request", "body": part, "more_body": pulled < total}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PREFIX + path,
        "raw_path": (PREFIX + path).encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3000),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, pulled, json.loads(text) if text.startswith(b"{") else {}


JSON = {"content-type": "application/json", "authorization": "Bearer oncall_not-a-token"}


@pytest.mark.parametrize("path", ["/agents/register", "/lease", "/jobs/1/result"])
def test_a_declared_length_over_the_cap_is_refused_unread(app: FastAPI, path: str) -> None:
    headers = {**JSON, "content-length": str(150_000_000)}
    status, pulled, reply = post(app, path, FLOOD, headers)
    assert (status, pulled) == (413, 0)
    assert str(MAX_BODY_BYTES) in reply["detail"]


def test_a_declared_length_of_thousands_of_digits_is_refused_not_a_crash(app: FastAPI) -> None:
    headers = {**JSON, "content-length": "9" * 5000}
    status, pulled, _ = post(app, "/lease", FLOOD, headers)
    assert (status, pulled) == (413, 0)


def test_a_streamed_body_is_cut_at_the_cap_before_the_token_is_checked(app: FastAPI) -> None:
    status, pulled, reply = post(app, "/jobs/1/events", FLOOD, JSON)
    assert status == 413, "refused for its size, not for its (wrong) token"
    assert pulled <= MAX_BODY_BYTES + CHUNK
    assert "too large" in reply["detail"]


def test_the_largest_body_an_agent_sends_still_gets_through(app: FastAPI) -> None:
    beat = {"log_tail": ["x" * 500] * 200}  # the most a heartbeat may carry
    body = json.dumps(beat).encode()
    status, _, reply = post(
        app, "/jobs/1/heartbeat", body, {**JSON, "content-length": str(len(body))}
    )
    assert status == 401 and "token" in reply["detail"], "read, then refused for its token"
