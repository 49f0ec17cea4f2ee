"""The two transports: HTTP (/slack/events, /healthz, /metrics) and Socket Mode."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from slack_bolt import App

from bot.slack.http import listen, server, web_app
from bot.slack.socket import connect
from tests.fakes import slack_payloads as p
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, sign
from tests.fakes.socket_mode import FakeSocketMode

FIA_LINE = "RuntimeError: call aclnnFusedInferAttentionScore failed"


@pytest.fixture
def http_url(app: App) -> Iterator[str]:
    sock = listen("127.0.0.1", 0)
    web = server(web_app(app, lambda: {"ok": True, "mode": "http"}))
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for _ in range(100):
        if web.started:
            break
        threading.Event().wait(0.05)
    yield url
    web.should_exit = True
    thread.join(timeout=10)


def test_http_mode_serves_slack_health_and_metrics(http_url: str, fake_slack: FakeSlack) -> None:
    body = p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    response = httpx.post(f"{http_url}/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert "MLA attention runtime failures after ready" in post["text"]

    forged = httpx.post(
        f"{http_url}/slack/events", content=body, headers={**headers, "X-Slack-Signature": "v0=bad"}
    )
    assert forged.status_code == 401

    assert httpx.get(f"{http_url}/healthz").json() == {"ok": True, "mode": "http"}
    metrics = httpx.get(f"{http_url}/metrics").text
    assert 'oncall_slack_requests_total{kind="triage"}' in metrics
    assert "oncall_triage_seconds_bucket" in metrics


def test_socket_mode_receives_envelopes_and_acks_them(app: App, fake_slack: FakeSlack) -> None:
    with FakeSocketMode() as socket_server:
        fake_slack.socket_url = socket_server.url
        handler = connect(app, APP_TOKEN)
        try:
            assert socket_server.connected.wait(10)
            opened = fake_slack.of("apps.connections.open")[0]
            assert opened.headers["Authorization"] == f"Bearer {APP_TOKEN}"

            command = dict(parse_qsl(p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1")))
            envelope = socket_server.send("slash_commands", command)
            ack = socket_server.acks.get(timeout=10)
            assert ack["envelope_id"] == envelope
            post = fake_slack.wait_for("chat.postMessage")[0].args
            assert "MLA attention runtime failures after ready" in post["text"]

            event = json.loads(p.event(p.mention(FIA_LINE, "1700001000.1"), "EvSock1"))
            socket_server.send("events_api", event)
            socket_server.send("events_api", event, retry_attempt=1)
            fake_slack.wait_for("chat.postMessage", 2)
            fake_slack.quiet_for(1.0)
            assert len(fake_slack.of("chat.postMessage")) == 2
        finally:
            handler.close()


@contextmanager
def _serve(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """`ascend-oncall serve --port 0` as users start it; yields its /healthz base URL."""
    exe = str(Path(sys.executable).with_name("ascend-oncall"))
    proc = subprocess.Popen(
        [exe, "serve", "--port", "0"], env=env, cwd=cwd, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 120
        while "serving Slack" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "serve exited early"
        found = re.search(r"metrics on (127\.0\.0\.1:\d+)", line)
        assert found, line
        yield f"http://{found.group(1)}"
    finally:
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
        assert BOT_TOKEN not in rest and APP_TOKEN not in rest


def _env(fake_slack: FakeSlack, tmp_path: Path, cache_dir: Path, **slack: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONCALL_"))}
    return (
        env
        | slack
        | {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_API_URL": fake_slack.api_url,
            "ONCALL_CACHE_DIR": str(cache_dir),
            "ONCALL_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
        }
    )


@pytest.mark.slow
def test_serve_runs_http_mode_as_a_real_process(
    fake_slack: FakeSlack, tmp_path: Path, cache_dir: Path
) -> None:
    env = _env(fake_slack, tmp_path, cache_dir, SLACK_SIGNING_SECRET=SIGNING_SECRET)
    with _serve(env, tmp_path) as base:
        health = httpx.get(f"{base}/healthz").json()
        assert health["mode"] == "http" and health["triager"] in ("loading", "ready")
        body = p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1")
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        assert httpx.post(f"{base}/slack/events", content=body, headers=headers).status_code == 200
        post = fake_slack.wait_for("chat.postMessage")[0].args
        assert "MLA attention runtime failures after ready" in post["text"]
        assert httpx.get(f"{base}/healthz").json()["triager"] == "ready"


@pytest.mark.slow
def test_serve_runs_socket_mode_as_a_real_process(
    fake_slack: FakeSlack, tmp_path: Path, cache_dir: Path
) -> None:
    with FakeSocketMode() as socket_server:
        fake_slack.socket_url = socket_server.url
        env = _env(fake_slack, tmp_path, cache_dir, SLACK_APP_TOKEN=APP_TOKEN)
        with _serve(env, tmp_path) as base:
            assert socket_server.connected.wait(30)
            health = httpx.get(f"{base}/healthz").json()
            assert health["ok"] is True and health["mode"] == "socket"
            assert (
                httpx.post(f"{base}/slack/events", content="{}").status_code == 404
            )  # not in Socket Mode
            command = dict(parse_qsl(p.slash("/runbook", "507903", f"{fake_slack.url}/respond/3")))
            socket_server.send("slash_commands", command)
            reply = fake_slack.wait_for("response_url")[0].args
            assert "ACL graph capture fails (507903)" in json.dumps(reply["blocks"])
            assert "oncall_slack_requests_total" in httpx.get(f"{base}/metrics").text
