"""The HTTP side of the bot: Slack's requests at /slack/events, and /healthz and /metrics.

In Socket Mode only /healthz and /metrics are served. Bolt's dispatch is synchronous, so it
runs in the thread pool, off the event loop that accepts the next request. A body over
MAX_EVENT_BYTES is refused before it is read whole: anyone can send one, and the signature
that proves it came from Slack is only checked on the complete body.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

from bot.metrics import ACK_SECONDS

EVENTS_PATH = "/slack/events"
# Slack's largest requests (a message event with its blocks, a submitted form) are tens of
# kB; a message's text is at most 40,000 characters.
MAX_EVENT_BYTES = 1024 * 1024
TOO_LARGE = f"request body too large: at most {MAX_EVENT_BYTES} bytes"


async def _capped_body(request: Request) -> bytes | None:
    """The whole body, or None as soon as it is over MAX_EVENT_BYTES (by its declared
    length, before a byte is read; streamed, at the chunk that crosses the cap)."""
    declared = request.headers.get("content-length")
    if declared is not None and not (  # a length, in few enough digits for int()
        declared.isascii() and declared.isdigit() and len(declared) < 16
    ):
        return None
    if declared is not None and int(declared) > MAX_EVENT_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_EVENT_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def web_app(
    slack: App | None,
    healthy: Callable[[], dict[str, object]],
    more_metrics: CollectorRegistry | None = None,
) -> FastAPI:
    """Slack's endpoint (None: Socket Mode), /healthz and /metrics: the bot's metrics and,
    from `more_metrics`, the runner jobs' when the coordinator is served here too."""
    api = FastAPI(title="ascend-oncall", docs_url=None, redoc_url=None, openapi_url=None)

    if slack is not None:

        @api.post(EVENTS_PATH)
        async def slack_events(request: Request) -> Response:
            started = time.perf_counter()
            body = await _capped_body(request)
            if body is None:
                return JSONResponse({"detail": TOO_LARGE}, status_code=413)
            response = await run_in_threadpool(slack.dispatch, to_bolt_request(request, body))
            ACK_SECONDS.observe(time.perf_counter() - started)
            return to_starlette_response(response)

    @api.get("/healthz")
    def healthz() -> JSONResponse:
        state = healthy()
        return JSONResponse(state, status_code=200 if state.get("ok") else 503)

    @api.get("/metrics")
    def metrics() -> Response:
        body = generate_latest()
        if more_metrics is not None:  # its own names: the text formats simply join
            body += generate_latest(more_metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return api


def listen(host: str, port: int) -> socket.socket:
    """Bind before serving, so a taken port is an error at start and port 0 can be used."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def server(api: FastAPI) -> uvicorn.Server:
    # Agents hold 20 s long polls open: a stop does not wait for them (they reconnect).
    config = uvicorn.Config(
        api, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=3
    )
    return uvicorn.Server(config)
