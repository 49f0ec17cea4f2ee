"""The coordinator and a real agent process, over HTTP on loopback, with the fake `vllm`:
a job runs end to end; a killed agent's job is lost and leaves no server; a coordinator
restarted mid-job still gets the result; a wrong token is refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from runners import JobSpec, Status
from runners.run.vllm_process import group_members
from runners.store.jobstore import JobStore, open_jobs
from runners.store.records import Job
from tests.databases import database
from tests.runners.conftest import FAKE_CMD
from tests.runners.test_playbooks import free_port

CLI = [str(Path(sys.executable).with_name("ascend-oncall"))]


def wait_for(what: Callable[[], object], timeout: float, why: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := what():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s: {why}")


class Host:
    """A coordinator process and agent processes sharing one SQLite database."""

    def __init__(self, tmp: Path, url: str | None = None) -> None:
        self.tmp = tmp
        self.url = url or f"sqlite:///{tmp / 'oncall.db'}"
        self.port = free_port()
        self.env = {
            **os.environ,
            "ONCALL_DATABASE_URL": self.url,
            "ONCALL_LEASE_S": "5",
            "ONCALL_SETTLE_S": "0.3",
            "ONCALL_RUNNER_DIR": str(tmp / "runner"),
            "ONCALL_VLLM_CMD": " ".join(FAKE_CMD),
            "ONCALL_RUNNER_PORT": "0",
            "FAKE_VLLM_TIME_SCALE": "0.1",
            "ONCALL_RUNNER_PASS_ENV": "FAKE_VLLM_*",  # the fake's knobs reach the server
        }
        self.store: JobStore = open_jobs(self.url, lease_s=5)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with (self.tmp / log).open("ab") as out:
            proc = subprocess.Popen(
                [*CLI, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append(proc)
        return proc

    def coordinator(self, port: int | None = None) -> subprocess.Popen[bytes]:
        port = port or self.port
        proc = self.start("coordinator", "--port", str(port), log=f"coordinator-{port}.log")
        wait_for(lambda: self._up(port), 30, "coordinator answers /healthz")
        return proc

    def _up(self, port: int) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def agent(
        self, token: str, *labels: str, port: int | None = None, slots: int = 1
    ) -> subprocess.Popen[bytes]:
        server = f"http://127.0.0.1:{port or self.port}"
        args = ["runner", "--server", server, "--token", token, "--slots", str(slots)]
        args += [a for label in labels for a in ("--label", label)] + ["--heartbeat", "0.5"]
        return self.start(*args, log=f"agent-{token[-6:]}.log")

    def finished(self, job_id: int, timeout: float = 40) -> Job:
        def final() -> Job | None:
            job = self.store.job(job_id)
            return job if job and job.status.final else None

        return wait_for(final, timeout, f"job {job_id} finishes; {self.logs()}")  # type: ignore[return-value]

    def logs(self) -> str:
        return " | ".join(p.read_text()[-1500:] for p in self.tmp.glob("*.log"))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.store.engine.dispose()


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(tmp_path)
    try:
        yield h
    finally:
        h.close()


def server_groups(host: Host) -> list[int]:
    records = host.tmp / "runner" / "servers"
    return [json.loads(r.read_text())["pgid"] for r in records.glob("*.json")]


def test_a_job_runs_on_the_agent_its_labels_name(host: Host) -> None:
    host.coordinator()
    host.agent(host.store.add_agent("npu-a2", ["a2"]), "a2")
    other = host.store.submit(JobSpec(playbook="smoke", model="fake/healthy", labels=("a3",)))
    job = host.store.submit(JobSpec(playbook="smoke", model="fake/false-ready-fia", labels=("a2",)))
    done = host.finished(job.id)
    assert done.status is Status.FAILED and done.agent == "npu-a2"
    assert done.result and done.result.phase == "text smoke" and done.result.next
    assert done.result.first_error and "561002" in done.result.first_error.signature
    phases = [e.phase for e in host.store.events(job.id) if e.kind == "phase"]
    assert phases[:4] == ["queued", "preflight", "starting", "ready"]
    assert any(e.kind == "stage" for e in host.store.events(job.id))
    assert f"job {job.id}: [starting] capturing graphs" in host.logs(), "the host's log says it"
    assert host.store.job(other.id).status is Status.QUEUED  # type: ignore[union-attr]
    ((agent, current),) = host.store.agents()
    assert agent.labels == ("a2",) and agent.last_seen is not None and current is None


def test_a_wrong_token_is_refused_and_the_agent_says_how_to_get_one(host: Host) -> None:
    host.coordinator()
    proc = host.agent("oncall_not-a-token")
    assert proc.wait(30) == 1
    assert "coordinator add-agent" in host.logs()


def test_an_agent_killed_mid_job_loses_the_job_and_leaves_no_server(host: Host) -> None:
    host.coordinator()
    agent = host.agent(host.store.add_agent("npu"))
    job = host.store.submit(JobSpec(playbook="smoke", model="fake/slow-capture"))
    wait_for(
        lambda: (j := host.store.job(job.id)) and (j.stage or "").startswith("capturing graphs"),
        30,
        "capture",
    )
    groups = server_groups(host)
    assert groups and all(group_members(g) for g in groups)
    agent.send_signal(signal.SIGKILL)
    agent.wait(5)
    lost = host.finished(job.id, timeout=20)
    assert lost.status is Status.LOST
    wait_for(lambda: not any(group_members(g) for g in groups), 15, "the server died with it")


def test_a_coordinator_restart_mid_job_loses_nothing(host: Host) -> None:
    coordinator = host.coordinator()
    host.agent(host.store.add_agent("npu"))
    job = host.store.submit(JobSpec(playbook="smoke", model="fake/slow-capture"))
    wait_for(
        lambda: (j := host.store.job(job.id)) and (j.stage or "").startswith("capturing graphs"),
        30,
        "capture",
    )
    coordinator.send_signal(signal.SIGTERM)
    coordinator.wait(15)
    time.sleep(1.0)  # the agent's calls fail meanwhile; the run goes on
    host.coordinator()
    done = host.finished(job.id, timeout=40)
    assert done.status is Status.PASSED, host.logs()
    assert done.result and done.result.smoke["text"]


def test_an_agent_with_two_slots_runs_two_jobs_at_once(host: Host) -> None:
    host.coordinator()
    host.agent(host.store.add_agent("big-host"), slots=2)
    jobs = [
        host.store.submit(JobSpec(playbook="smoke", model="fake/slow-capture")) for _ in range(2)
    ]
    wait_for(
        lambda: all((j := host.store.job(x.id)) and j.status is Status.RUNNING for x in jobs),
        30,
        "both jobs run together",
    )
    for job in jobs:
        assert host.finished(job.id, timeout=60).status is Status.PASSED


def test_two_coordinator_replicas_on_postgresql_share_the_agents_work(tmp_path: Path) -> None:
    with database("postgresql", tmp_path) as url:
        host = Host(tmp_path, url)
        try:
            ports = [host.port, free_port()]
            for port in ports:
                host.coordinator(port)
            for i, port in enumerate(ports):
                host.agent(host.store.add_agent(f"npu-{i}"), port=port)
            jobs = [
                host.store.submit(JobSpec(playbook="smoke", model=f"fake/healthy-{i}"))
                for i in range(6)
            ]
            done = [host.finished(job.id, timeout=90) for job in jobs]
            assert [j.status for j in done] == [Status.PASSED] * 6, [
                (j.result.verdict if j.result else None, j.result.notes if j.result else None)
                for j in done
            ]
            for job in jobs:
                leases = [e for e in host.store.events(job.id) if e.message.startswith("leased by")]
                assert len(leases) == 1
            assert {job.agent for job in done} == {"npu-0", "npu-1"}
        finally:
            host.close()


def test_a_stopped_agent_stops_its_server_and_reports_the_job_cancelled(host: Host) -> None:
    host.coordinator()
    agent = host.agent(host.store.add_agent("npu"))
    job = host.store.submit(JobSpec(playbook="smoke", model="fake/slow-capture"))
    wait_for(
        lambda: (j := host.store.job(job.id)) and (j.stage or "").startswith("capturing graphs"),
        30,
        "capture",
    )
    groups = server_groups(host)
    agent.send_signal(signal.SIGTERM)  # systemctl stop
    assert agent.wait(30) == 0
    done = host.finished(job.id, timeout=10)
    assert done.status is Status.CANCELLED, host.logs()
    assert not any(group_members(g) for g in groups)


def test_an_idle_agent_asked_to_stop_leaves_at_once_and_says_why(host: Host) -> None:
    host.coordinator()
    token = host.store.add_agent("npu")
    agent = host.agent(token)
    wait_for(lambda: "registered as" in host.logs(), 30, "the agent registers")
    time.sleep(0.5)  # in its long poll for work (20 s)
    started = time.monotonic()
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(10) == 0
    assert time.monotonic() - started < 5, "it did not wait out its long poll"
    assert "agent stopped" in host.logs()


def test_a_restarted_agent_gives_up_the_job_it_was_running_at_once(host: Host) -> None:
    host.coordinator()
    token = host.store.add_agent("npu")
    agent = host.agent(token)
    job = host.store.submit(JobSpec(playbook="smoke", model="fake/slow-capture"))
    wait_for(
        lambda: (j := host.store.job(job.id)) and (j.stage or "").startswith("capturing graphs"),
        30,
        "capture",
    )
    agent.send_signal(signal.SIGKILL)
    agent.wait(5)
    host.agent(token)  # back before the lease (5 s) runs out
    lost = host.finished(job.id, timeout=4)
    assert lost.status is Status.LOST
    assert any("restarted during the job" in e.message for e in host.store.events(job.id))
