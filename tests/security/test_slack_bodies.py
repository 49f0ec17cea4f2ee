"""/slack/events refuses an oversized body before it reads it, and before the signature is
checked (red team: a 150 MB body was read whole, then refused for its signature: seconds
and hundreds of MB for one unsigned request). Requests go to the ASGI app directly, so the
test sees exactly how much of a body the app pulled; the bolt App is the real one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from slack_bolt import App

from bot.slack.http import EVENTS_PATH, MAX_EVENT_BYTES, web_app
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, sign

CHUNK = 64 * 1024
FLOOD = 32 * 1024 * 1024  # what an attacker offers; far over the cap


@pytest.fixture
def api() -> FastAPI:
    slack = App(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, token_verification_enabled=False)
    return web_app(slack, lambda: {"ok": True})


def post(api: FastAPI, body: bytes | int, headers: dict[str, str]) -> tuple[int, int, Any]:
    """(status, body bytes the app pulled, reply). An int body is that many bytes, streamed
    in chunks with no Content-Length unless the headers give one."""
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
        "path": EVENTS_PATH,
        "raw_path": EVENTS_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 3000),
    }
    asyncio.run(api(scope, receive, send))  # type: ignore[arg-type]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, pulled, json.loads(text) if text[:1] in (b"{", b"[") else text.decode()


JSON = {"content-type": "application/json", **sign("{}")}  # signed, but not for this body


def test_a_declared_length_over_the_cap_is_refused_unread(api: FastAPI) -> None:
    status, pulled, reply = post(api, FLOOD, {**JSON, "content-length": str(150_000_000)})
    assert (status, pulled) == (413, 0)
    assert str(MAX_EVENT_BYTES) in reply["detail"]


@pytest.mark.parametrize("declared", ["-1", "1e9", "\uff11\uff12", "9" * 5000])
def test_a_length_that_is_not_a_plain_number_is_refused_unread(api: FastAPI, declared: str) -> None:
    status, pulled, _ = post(api, FLOOD, {**JSON, "content-length": declared})
    assert (status, pulled) == (413, 0)


def test_a_streamed_body_is_cut_at_the_cap_before_the_signature_is_checked(
    api: FastAPI,
) -> None:
    status, pulled, reply = post(api, FLOOD, JSON)
    assert status == 413, "refused for its size, not for its signature"
    assert pulled <= MAX_EVENT_BYTES + CHUNK
    assert "too large" in reply["detail"]


def test_a_signed_request_under_the_cap_is_still_answered(api: FastAPI) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "c" * 100, "pad": "x" * 500_000})
    headers = {"content-type": "application/json", "content-length": str(len(body)), **sign(body)}
    status, _, reply = post(api, body.encode(), headers)
    assert status == 200 and "c" * 100 in str(reply)
    # The same body, unsigned, is read and refused for its signature, as before.
    status, _, _ = post(api, body.encode(), {**JSON, "content-length": str(len(body))})
    assert status == 401
