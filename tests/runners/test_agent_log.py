"""The agent sends the run's server log with its verdict: redacted, cut to what the
coordinator keeps, before the result; a log refused never holds the verdict back."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from runners import RunnerConfig
from runners.agent.client import PREFIX, AgentConfig, client
from runners.agent.loop import RunnerAgent
from runners.run.result import RunResult
from tests.runners.test_agent_client import Recorder

CONFIG = AgentConfig("http://coordinator.test", "oncall_secret", ("a2",), max_backoff_s=0.05)
SECRET = "hf_" + "Qw3Er4Ty5Ui6Op7As8Df"


def _pending(tmp_path: Path, log_lines: int) -> RunnerConfig:
    """A host whose last run's verdict (job 12) is still on disk, with its server log."""
    runner = RunnerConfig(vllm_cmd=("false",), port=0, work_dir=tmp_path / "runner")
    log = tmp_path / "server.log"
    lines = [f"INFO line {i}" for i in range(log_lines)]
    lines[1] = f"INFO export HF_TOKEN={SECRET}"
    log.write_text("\n".join(lines) + "\n")
    result = RunResult(playbook="smoke", status="failed", phase="starting", log_path=str(log))
    (runner.work_dir / "pending").mkdir(parents=True)
    (runner.work_dir / "pending" / "12.json").write_text(result.model_dump_json())
    return runner


def _agent(runner: RunnerConfig, log_status: int) -> tuple[RunnerAgent, Recorder]:
    stop = threading.Event()

    def coordinator(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        if path == "/jobs/12/log":
            return httpx.Response(log_status, text="" if log_status == 204 else "too large")
        if path == "/jobs/12/result":
            return httpx.Response(200, json={"status": "failed"})
        stop.set()
        return httpx.Response(503)

    recorder = Recorder(coordinator)
    agent = RunnerAgent(CONFIG, runner, stop, http=client(CONFIG, httpx.MockTransport(recorder)))
    return agent, recorder


def test_the_log_goes_first_redacted_and_cut_then_the_verdict(tmp_path: Path) -> None:
    runner = _pending(tmp_path, 2000)
    size = (tmp_path / "server.log").stat().st_size
    agent, seen = _agent(runner, 204)
    agent.max_log_bytes = 4096
    agent.run()
    assert seen.paths()[:2] == ["/jobs/12/log", "/jobs/12/result"]
    sent = seen.requests[0]
    assert sent.url.params["total"] == str(size), "the size on the host, for the note"
    body = sent.content.decode()
    assert len(sent.content) <= 4096 and "bytes cut here" in body
    assert SECRET not in body and "HF_TOKEN=[redacted]" in body
    assert body.startswith("INFO line 0\n") and body.endswith("INFO line 1999\n")
    assert not (runner.work_dir / "pending" / "12.json").exists()


def test_a_log_the_coordinator_refuses_never_holds_the_verdict(tmp_path: Path) -> None:
    runner = _pending(tmp_path, 10)
    agent, seen = _agent(runner, 413)
    agent.run()
    assert seen.paths()[:2] == ["/jobs/12/log", "/jobs/12/result"]
    assert not (runner.work_dir / "pending" / "12.json").exists(), "the verdict was delivered"


def test_a_run_with_no_log_sends_only_its_verdict(tmp_path: Path) -> None:
    runner = _pending(tmp_path, 10)
    (tmp_path / "server.log").unlink()  # nothing was launched
    agent, seen = _agent(runner, 204)
    agent.run()
    assert seen.paths()[0] == "/jobs/12/result"
    assert "/jobs/12/log" not in seen.paths()


def test_the_agent_cuts_to_what_the_coordinator_says_it_keeps(tmp_path: Path) -> None:
    stop = threading.Event()
    said: list[object] = [5000, "lots", -1]

    def coordinator(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/agents/register"):
            return httpx.Response(
                200,
                json={"agent": "npu", "labels": [], "lease_s": 30, "max_log_bytes": said[0]},
            )
        stop.set()
        return httpx.Response(204)

    runner = RunnerConfig(vllm_cmd=("false",), port=0, work_dir=tmp_path / "runner")
    for value, kept in ((5000, 5000), ("lots", 1024 * 1024), (-1, 1024 * 1024)):
        said[0] = value
        stop.clear()
        http = client(CONFIG, httpx.MockTransport(Recorder(coordinator)))
        agent = RunnerAgent(CONFIG, runner, stop, http=http)
        agent.run()
        assert agent.max_log_bytes == kept, value
