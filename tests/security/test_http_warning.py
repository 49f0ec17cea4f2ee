"""An agent pointed at a plain http:// coordinator on another host says, loudly, that its
token crosses the network in clear (red team: nothing said so). On this host it is quiet."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bot.cli.agent import cleartext_warning
from tests.runners.test_agent import CLI, free_port


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:3000",
        "http://coordinator.example.org",
        "HTTP://npu-host:3000/",
        "http://0.0.0.0:3000",  # every interface: not only this host's loopback
        "http://127.0.0.1.example.org",
        "http://[2001:db8::1]:3000",
        "http://localhost.example.org",
    ],
)
def test_plain_http_to_another_host_is_warned_about(url: str) -> None:
    warning = cleartext_warning(url)
    assert warning is not None and "unencrypted" in warning and url in warning


@pytest.mark.parametrize(
    "url",
    [
        "https://coordinator.example.org",
        "http://127.0.0.1:3000",
        "http://127.9.8.7",
        "http://[::1]:3000",
        "http://[::ffff:127.0.0.1]:3000",
        "http://localhost:3000",
        "http://LOCALHOST.:3000",
    ],
)
def test_https_and_this_hosts_loopback_are_not(url: str) -> None:
    assert cleartext_warning(url) is None


def _agent_stderr(tmp_path: Path, url: str) -> str:
    """Start the agent against `url` (nothing listens there), stop it once it has said
    where it goes, and return what it wrote."""
    log = tmp_path / "agent.log"
    env = {**os.environ, "ONCALL_RUNNER_DIR": str(tmp_path / "runner")}
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [*CLI, "runner", "--server", url, "--token", "oncall_x"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "agent for" not in log.read_text() and time.monotonic() < deadline:
            assert agent.poll() is None, log.read_text()
            time.sleep(0.1)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
    return log.read_text()


def test_the_agent_warns_on_stderr_before_it_connects(tmp_path: Path) -> None:
    said = _agent_stderr(tmp_path, f"http://0.0.0.0:{free_port()}")
    assert "INSECURE" in said and "unencrypted" in said
    assert said.index("INSECURE") < said.index("agent for")
    assert "INSECURE" not in _agent_stderr(tmp_path, f"http://127.0.0.1:{free_port()}")
