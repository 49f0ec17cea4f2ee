"""The agent's side of the coordinator API, against httpx.MockTransport: what it sends,
how it reads the answers, and how it waits out a coordinator that is away."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from runners import AuthError, RunnerConfig
from runners.agent.client import PREFIX, AgentConfig, Coordinator, client
from runners.agent.job_run import JobRun
from runners.agent.loop import RunnerAgent
from runners.errors import CoordinatorError
from runners.run.result import Event, RunResult
from runners.spec.job import JobSpec

CONFIG = AgentConfig("http://coordinator.test", "oncall_secret", ("a2",), max_backoff_s=0.05)
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A coordinator in memory: each request kept, each answered by `answer`."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def paths(self) -> list[str]:
        return [r.url.path.removeprefix(PREFIX) for r in self.requests]

    def bodies(self, path: str) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == PREFIX + path]


def api(answer: Handler, stop: threading.Event | None = None) -> tuple[Coordinator, Recorder]:
    recorder = Recorder(answer)
    http = client(CONFIG, httpx.MockTransport(recorder))
    return Coordinator(CONFIG, stop or threading.Event(), http), recorder


def test_every_call_carries_the_token_and_goes_under_the_api_prefix() -> None:
    coordinator, seen = api(lambda r: httpx.Response(200, json={}))
    coordinator.call("/agents/register", {"labels": ["a2"]})
    (request,) = seen.requests
    assert request.headers["authorization"] == "Bearer oncall_secret"
    assert request.url.path == f"{PREFIX}/agents/register"


def test_a_coordinator_that_is_away_is_waited_out_with_backoff() -> None:
    away: list[httpx.Response | Exception] = [httpx.ConnectError("refused")]
    away += [httpx.Response(503), httpx.Response(502), httpx.Response(200, json={"ok": True})]
    answers = iter(away)

    def flaky(_: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    coordinator, seen = api(flaky)
    reply = coordinator.call("/lease", {"wait_s": 1})
    assert reply is not None and reply.json() == {"ok": True}
    assert len(seen.requests) == 4


def test_refusals_are_not_retried() -> None:
    coordinator, seen = api(lambda r: httpx.Response(401, json={"detail": "unknown token"}))
    with pytest.raises(AuthError, match=r"refused this agent: unknown token$"):
        coordinator.call("/lease", {})
    gone, _ = api(lambda r: httpx.Response(404, text="no such job"))
    with pytest.raises(CoordinatorError, match="404"):
        gone.call("/jobs/9/heartbeat", {})
    assert len(seen.requests) == 1


def test_a_stopping_agent_gives_up_retrying_but_a_verdict_gets_its_last_chance() -> None:
    stop = threading.Event()
    stop.set()
    coordinator, seen = api(lambda r: httpx.Response(503), stop)
    assert coordinator.call("/lease", {}) is None and not seen.requests
    assert coordinator.call("/jobs/1/result", {}, final_s=0.3) is None
    assert len(seen.requests) >= 2  # tried, and tried again, within its last 0.3 s


def _runner(tmp_path: Path) -> RunnerConfig:
    return RunnerConfig(vllm_cmd=("false",), port=0, work_dir=tmp_path / "runner")


def test_register_then_lease_until_stopped(tmp_path: Path) -> None:
    stop = threading.Event()
    leases = 0

    def coordinator(request: httpx.Request) -> httpx.Response:
        nonlocal leases
        if request.url.path.endswith("/agents/register"):
            return httpx.Response(200, json={"agent": "npu-01", "labels": ["a2"], "lease_s": 3})
        leases += 1
        if leases == 3:
            stop.set()
        return httpx.Response(204)

    recorder = Recorder(coordinator)
    agent = RunnerAgent(
        CONFIG, _runner(tmp_path), stop, http=client(CONFIG, httpx.MockTransport(recorder))
    )
    agent.run()
    assert recorder.paths() == ["/agents/register", "/lease", "/lease", "/lease"]
    (register,) = recorder.bodies("/agents/register")
    assert register["labels"] == ["a2"] and register["slots"] == 1 and register["version"]
    assert recorder.bodies("/lease")[0] == {"wait_s": CONFIG.lease_wait_s}
    assert agent.heartbeat_s == 1.0, "three heartbeats per lease the coordinator gave"


def test_a_job_it_cannot_read_is_reported_blocked_and_not_kept(tmp_path: Path) -> None:
    stop = threading.Event()

    def coordinator(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        if path == "/agents/register":
            return httpx.Response(200, json={"agent": "npu-01", "labels": [], "lease_s": 30})
        if path == "/lease":
            return httpx.Response(200, json={"id": 7, "spec": {"playbook": "no-such"}})
        stop.set()  # the result: done
        return httpx.Response(200, json={"status": "blocked"})

    recorder = Recorder(coordinator)
    runner = _runner(tmp_path)
    RunnerAgent(CONFIG, runner, stop, http=client(CONFIG, httpx.MockTransport(recorder))).run()
    (result,) = recorder.bodies("/jobs/7/result")
    assert result["status"] == "blocked" and "cannot read the job" in str(result["verdict"])
    assert not list((runner.work_dir / "pending").glob("*.json")), "delivered: not kept"


def test_a_result_the_coordinator_could_not_take_waits_on_disk_for_the_next_start(
    tmp_path: Path,
) -> None:
    runner = _runner(tmp_path)
    pending = runner.work_dir / "pending"
    pending.mkdir(parents=True)
    result = RunResult(playbook="smoke", status="passed", phase="text smoke", verdict="passed")
    (pending / "12.json").write_text(result.model_dump_json())
    stop = threading.Event()

    def coordinator(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jobs/12/result"):
            return httpx.Response(200, json={"status": "passed"})
        stop.set()
        return httpx.Response(503)

    recorder = Recorder(coordinator)
    RunnerAgent(CONFIG, runner, stop, http=client(CONFIG, httpx.MockTransport(recorder))).run()
    assert recorder.paths()[0] == "/jobs/12/result"
    assert recorder.bodies("/jobs/12/result")[0]["status"] == "passed"
    assert not (pending / "12.json").exists()


def test_heartbeats_carry_a_redacted_log_tail_and_a_cancel_is_obeyed(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("INFO starting\nexport HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz123456\nloading\n")
    coordinator, seen = api(lambda r: httpx.Response(200, json={"cancel": True}))
    job = JobRun(coordinator, 3, JobSpec(playbook="smoke", model="org/m"), _runner(tmp_path))
    job.notify(Event(kind="log", phase="starting", message=str(log)))
    done = threading.Event()
    done.set()  # one beat, then stop
    job.heartbeats(0.01, done, lambda exc: None)
    (beat,) = seen.bodies("/jobs/3/heartbeat")
    tail = "\n".join(beat["log_tail"])  # type: ignore[arg-type]
    assert "loading" in tail and "hf_abcdefghij" not in tail
    assert job.cancel.is_set()


def test_events_go_in_batches_with_secrets_redacted(tmp_path: Path) -> None:
    coordinator, seen = api(lambda r: httpx.Response(200, json={}))
    job = JobRun(coordinator, 4, JobSpec(playbook="smoke", model="org/m"), _runner(tmp_path))
    job.notify(Event(kind="phase", phase="starting"))
    job.notify(Event(kind="progress", phase="starting", stage="capturing graphs", message="3/9"))
    job.notify(Event(kind="note", phase="starting", message="token=oncall_abcdefghijklmnop"))
    job.flush_events()
    (batch,) = seen.bodies("/jobs/4/events")
    events = batch["events"]
    assert [e["kind"] for e in events] == ["phase", "progress", "note"]  # type: ignore[index]
    assert "oncall_abcdefghijklmnop" not in json.dumps(events)
