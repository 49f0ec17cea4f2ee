"""Wiring for the long-running front ends: the core over the store and the runbook index,
and `serve`, which puts the Slack app on Socket Mode or HTTP beside /healthz and /metrics.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr
from slack_bolt import App

from bot.core.oncall import Oncall
from bot.core.store import open_store
from bot.errors import SlackSetupError, StoreError
from bot.settings import Settings
from bot.slack.app import build_app, connect_deliveries
from bot.slack.deliveries import Deliveries
from bot.slack.http import listen, server, web_app
from bot.slack.reporter import Reporter
from bot.slack.runs import Dispatcher
from bot.slack.socket import connect
from kb import BatchingEmbedder, Example, SentenceTransformerEmbedder, Triager, load, parse
from runners import JobStore, job_registry, open_jobs, reap_leases, router

log = logging.getLogger("ascend_oncall")

MANIFEST = Path(__file__).parent / "data" / "slack-manifest.yml"
MANIFEST_URL = "https://oncall.example.com/slack/events"


def open_oncall(settings: Settings, background: bool = False) -> Oncall:
    """The core over the configured database and runbooks (the model is loaded once).
    With `background` (serve), the runbooks are checked now and the index and model are
    made in a thread, so Slack is answered from the first second."""
    store = open_store(settings.database_url)
    config = settings.kb_config()
    if background:
        parse(config.runbooks)  # a broken runbook stops the start, with its file and line
    # People asking at once share one forward pass of the model.
    embedder = BatchingEmbedder(
        SentenceTransformerEmbedder(config.model_path, config.model_setting)
    )

    def make(examples: tuple[Example, ...]) -> Triager:
        triager = load(config, embedder=embedder, examples=examples)
        # Queries run on the model's ONNX copy: open it now, not on the first question.
        # (The sentence-transformers model itself, torch and all, loads only to embed an
        # index that is not in the cache yet.)
        triager.index.embedder.embed(["warm up"])
        return triager

    return Oncall(make, store, background=background)


def manifest(url: str | None = None, socket_mode: bool = False) -> str:
    """The Slack app manifest, for "Create an app from a manifest" at api.slack.com/apps."""
    text = MANIFEST.read_text()
    if socket_mode:  # no request URLs: Slack sends everything over the socket
        lines = [line for line in text.splitlines(keepends=True) if MANIFEST_URL not in line]
        return "".join(lines).replace("socket_mode_enabled: false", "socket_mode_enabled: true")
    return text.replace(MANIFEST_URL, url or MANIFEST_URL)


def check_slack(settings: Settings) -> None:
    """Say what is missing before anything slow starts. A value set to nothing (`NAME=` in
    `.env`) is named as such: an empty signing secret would start a bot that answers every
    request with 500, an empty app token one that silently serves HTTP instead."""
    if settings.slack_bot_token is None:
        raise SlackSetupError("SLACK_BOT_TOKEN is not set (the xoxb- token of your Slack app)")
    _not_blank("SLACK_BOT_TOKEN", settings.slack_bot_token)
    if settings.slack_app_token is not None:
        _not_blank("SLACK_APP_TOKEN", settings.slack_app_token)
        return  # Socket Mode: the signing secret is not used
    if settings.slack_signing_secret is None:
        raise SlackSetupError(
            "set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP at /slack/events)"
        )
    _not_blank("SLACK_SIGNING_SECRET", settings.slack_signing_secret)


def _not_blank(name: str, value: SecretStr) -> None:
    if not value.get_secret_value().strip():
        raise SlackSetupError(
            f"{name} is set but empty: copy its value from your Slack app's settings "
            "(api.slack.com/apps), or remove the line to leave it unset"
        )


def housekeeping(deliveries: Deliveries, stop: threading.Event, every_s: float = 30.0) -> None:
    """Redo deliveries a dead worker left (a crash, a restart mid-answer); forget old keys."""
    while not stop.wait(every_s):
        try:
            deliveries.keep_alive()  # before the stall check, which takes 60 s of silence
            deliveries.resume_stalled()
            deliveries.oncall.store.forget_deliveries()
        except Exception:  # the database may be away for a while; try again next round
            log.exception("housekeeping failed")


def health_of(oncall: Oncall, mode: str, connected: bool = True) -> dict[str, object]:
    """What /healthz says: the database answers, Slack is connected, and the triager is
    ready (`"triager": "loading"` while the index and model are made at start)."""
    try:
        oncall.store.examples_version()
    except Exception as exc:  # the database went away: say so, do not crash the probe
        return {"ok": False, "mode": mode, "error": str(StoreError(str(exc)))}
    if not connected:
        return {"ok": False, "mode": mode, "error": "the Socket Mode connection is down"}
    if oncall.loading:  # acks go out meanwhile; a triage waits for it
        return {"ok": True, "mode": mode, "triager": "loading"}
    if oncall.failed is not None:
        return {"ok": False, "mode": mode, "error": str(oncall.failed)}
    return {"ok": True, "mode": mode, "triager": "ready", "entries": len(oncall.entries())}


def front(
    slack: App | None, health: Callable[[], dict[str, object]], runs: JobStore | None
) -> FastAPI:
    """What `serve` answers on its one address: Slack (None: Socket Mode), /healthz and
    /metrics, and with `runs` the agents' API, its job metrics in the same /metrics."""
    api = web_app(slack, health, job_registry(runs) if runs is not None else None)
    if runs is not None:
        api.include_router(router(runs))
    return api


def serve(settings: Settings, oncall: Oncall) -> None:
    """Run until interrupted: Socket Mode if SLACK_APP_TOKEN is set, else HTTP."""
    check_slack(settings)
    app_token = settings.slack_app_token
    deliveries = connect_deliveries(settings, oncall)
    runs = (
        open_jobs(settings.database_url, settings.lease_s, settings.max_log_upload_bytes)
        if settings.coordinator
        else None
    )
    dispatcher = Dispatcher(settings, runs, deliveries) if runs else None
    app = build_app(settings, oncall, deliveries=deliveries, dispatcher=dispatcher)
    mode = "socket" if app_token else "http"
    handler = None

    def health() -> dict[str, object]:
        connected = handler is None or handler.client.is_connected()
        return health_of(oncall, mode, connected)

    sock = listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    handler = connect(app, app_token.get_secret_value()) if app_token else None
    api = front(None if handler else app, health, runs)
    stop = threading.Event()
    threading.Thread(target=housekeeping, args=(deliveries, stop), daemon=True).start()
    if runs is not None and dispatcher is not None:  # the agents' API, their jobs in Slack
        queue_for = timedelta(seconds=settings.queue_s)
        threading.Thread(target=reap_leases, args=(runs, stop, 2.0, queue_for), daemon=True).start()
        threading.Thread(target=Reporter(dispatcher).run, args=(stop,), daemon=True).start()
    where = "Socket Mode" if handler else f"http://{host}:{port}/slack/events"
    log.info("serving Slack over %s; /healthz and /metrics on %s:%s", where, host, port)
    try:
        server(api).run(sockets=[sock])
    finally:
        stop.set()
        deliveries.close()
        if handler is not None:
            handler.close()  # type: ignore[no-untyped-call]
