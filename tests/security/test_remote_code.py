"""`--trust-remote-code` runs a model repository's own Python on the host. On the host
(the agent, `run`) only the operator's `--allow-remote-code` flag opens it: an
`ONCALL_ALLOW_REMOTE_CODE=true` that the agent shares with the bot, in its environment
or its `.env`, must not, or the two-key rule is one key."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runners import JobSpec, Status
from tests.runners.conftest import FAKE_CMD
from tests.runners.test_agent import Host

EXE = str(Path(sys.executable).with_name("ascend-oncall"))


def run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")},
        "ONCALL_RUNNER_DIR": str(tmp_path / "runner"),
        "ONCALL_SETTLE_S": "0.3",
        "ONCALL_RUNNER_PASS_ENV": "FAKE_VLLM_*",
        "FAKE_VLLM_TIME_SCALE": "0.1",
        **(env or {}),
    }
    cmd = [EXE, "run", "smoke", "--vllm-cmd", " ".join(FAKE_CMD), "--port", "0", *args]
    return subprocess.run(
        cmd, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )


def test_run_refuses_remote_code_that_only_the_environment_allows(tmp_path: Path) -> None:
    out = run(
        tmp_path, "--model", "fake/healthy", "--", "--trust-remote-code",
        env={"ONCALL_ALLOW_REMOTE_CODE": "true"},
    )  # fmt: skip
    assert out.returncode == 2 and "--allow-remote-code" in out.stderr, out.stderr


def test_run_refuses_remote_code_that_only_the_dotenv_allows(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ONCALL_ALLOW_REMOTE_CODE=true\n")
    out = run(tmp_path, "--model", "fake/healthy", "--", "--trust-remote-code")
    assert out.returncode == 2 and "--allow-remote-code" in out.stderr, out.stderr


def test_run_allows_remote_code_when_the_operator_says_so_on_the_command_line(
    tmp_path: Path,
) -> None:
    out = run(
        tmp_path, "--model", "fake/healthy", "--allow-remote-code", "--", "--trust-remote-code"
    )
    assert out.returncode == 0, out.stderr


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(tmp_path)
    h.env["ONCALL_ALLOW_REMOTE_CODE"] = "true"  # shared with the bot, as in one .env
    h.env["ONCALL_RUNNER_PASS_ENV"] = "FAKE_VLLM_*"
    try:
        yield h
    finally:
        h.close()


def test_an_agent_refuses_remote_code_its_environment_allows(host: Host) -> None:
    host.coordinator()
    host.agent(host.store.add_agent("npu"))
    spec = JobSpec(playbook="smoke", model="fake/healthy", args=("--trust-remote-code",))
    done = host.finished(host.store.submit(spec).id)
    assert done.status is Status.BLOCKED, host.logs()
    assert done.result and "--allow-remote-code" in done.result.verdict


def test_an_agent_started_with_allow_remote_code_runs_the_job(host: Host) -> None:
    host.coordinator()
    token = host.store.add_agent("npu")
    host.start(
        "runner", "--server", f"http://127.0.0.1:{host.port}", "--token", token,
        "--heartbeat", "0.5", "--allow-remote-code", log="agent-remote.log",
    )  # fmt: skip
    spec = JobSpec(playbook="smoke", model="fake/healthy", args=("--trust-remote-code",))
    done = host.finished(host.store.submit(spec).id)
    assert done.status is Status.PASSED, host.logs()
    assert done.result and "--trust-remote-code" in done.result.argv
