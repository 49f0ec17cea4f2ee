"""Heartbeats keep a healthy job's lease through a coordinator restart, whatever the
agent's other calls are waiting out (red team: with a short lease, heartbeats queued
behind event retries backing off up to 15 s, and the agent ignored the `lease_s` the
coordinator gave it, so healthy jobs were marked lost). The coordinator runs in this
process on a fixed loopback port, so it can be stopped and started again quickly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn
from pydantic import ValidationError

from bot.settings import Settings
from bot.slack.http import listen
from runners import JobSpec, RunnerConfig, Status
from runners.agent.loop import AgentConfig, RunnerAgent
from runners.coordinator import coordinator_app
from runners.store.jobstore import JobStore, open_jobs
from tests.runners.conftest import FAKE_CMD, FAST
from tests.runners.test_agent import wait_for
from tests.runners.test_playbooks import free_port

LEASE_S = 3.0
LOST = "the agent stopped heartbeating"


class Coordinator:
    """The coordinator app under uvicorn in a thread; stop() and start() are a restart."""

    def __init__(self, store: JobStore) -> None:
        self.store, self.port = store, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        app = coordinator_app(self.store, reap_every_s=0.2)
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self.server = server = uvicorn.Server(config)
        sock = listen("127.0.0.1", self.port)
        self.thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        wait_for(lambda: server.started, 10, "the coordinator starts")

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = open_jobs(f"sqlite:///{tmp_path / 'db.sqlite'}", lease_s=LEASE_S)
    try:
        yield opened
    finally:
        opened.engine.dispose()


@pytest.fixture
def coordinator(store: JobStore) -> Iterator[Coordinator]:
    c = Coordinator(store)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def run_agent(
    coordinator: Coordinator, tmp_path: Path, heartbeat_s: float, reply_delay_s: float
) -> tuple[RunnerAgent, threading.Thread]:
    """An agent in a thread whose retries back off up to 15 s (the old default); the fake
    server holds each smoke request `reply_delay_s`, a quiet stretch with no events."""
    token = coordinator.store.add_agent("npu")
    config = AgentConfig(
        coordinator.url, token, heartbeat_s=heartbeat_s, max_backoff_s=15.0, lease_wait_s=1.0
    )
    fake_env = (("FAKE_VLLM_TIME_SCALE", "0.1"), ("FAKE_VLLM_REPLY_DELAY_S", str(reply_delay_s)))
    budgets = replace(FAST, request_s=30.0)
    runner = RunnerConfig(
        vllm_cmd=FAKE_CMD, port=0, work_dir=tmp_path / "runner", budgets=budgets, extra_env=fake_env
    )
    agent = RunnerAgent(config, runner)
    thread = threading.Thread(target=agent.run, name="agent", daemon=True)
    thread.start()
    return agent, thread


def finished(store: JobStore, job_id: int) -> Status:
    def final() -> Status | None:
        job = store.job(job_id)
        return job.status if job and job.status.final and job.result else None

    return wait_for(final, 60, f"job {job_id} gets its verdict")  # type: ignore[return-value]


def never_lost(store: JobStore, job_id: int) -> bool:
    return not any(LOST in e.message for e in store.events(job_id))


def test_the_agent_heartbeats_within_the_lease_it_was_given(
    store: JobStore, coordinator: Coordinator, tmp_path: Path
) -> None:
    agent, thread = run_agent(coordinator, tmp_path, heartbeat_s=30.0, reply_delay_s=6.0)
    try:
        job = store.submit(JobSpec(playbook="smoke", model="fake/healthy"))
        assert finished(store, job.id) is Status.PASSED
        assert never_lost(store, job.id), f"a {LEASE_S} s lease, a 30 s heartbeat: lost"
    finally:
        agent.stop.set()
        thread.join(30)


def test_a_coordinator_restart_with_a_short_lease_loses_no_healthy_job(
    store: JobStore, coordinator: Coordinator, tmp_path: Path
) -> None:
    agent, thread = run_agent(coordinator, tmp_path, heartbeat_s=0.5, reply_delay_s=14.0)
    try:
        job = store.submit(JobSpec(playbook="smoke", model="fake/healthy"))
        wait_for(lambda: (j := store.job(job.id)) and j.phase == "starting", 30, "it starts")
        coordinator.stop()  # the job's startup events now wait, backing off
        stopped = threading.Event()
        stopped.wait(8.0)  # the old backoff's next try was 15 s after the first
        coordinator.start()  # gives running jobs one lease to be heard from
        assert finished(store, job.id) is Status.PASSED
        assert never_lost(store, job.id), "lost while its events waited out the restart"
    finally:
        agent.stop.set()
        thread.join(30)


def test_settings_refuse_a_lease_shorter_than_three_backoffs() -> None:
    with pytest.raises(
        ValidationError, match=r"ONCALL_LEASE_S=20 is under 3 x ONCALL_MAX_BACKOFF_S=10"
    ):
        Settings(_env_file=None, lease_s=20, max_backoff_s=10)  # type: ignore[call-arg]
    assert Settings(_env_file=None, lease_s=30, max_backoff_s=10).lease_s == 30  # type: ignore[call-arg]
    quick = Settings(_env_file=None, lease_s=5)  # type: ignore[call-arg]
    assert quick.agent_backoff_s <= 5 / 3, "unset, the backoff follows the lease"
    assert Settings(_env_file=None).agent_backoff_s == 15.0  # type: ignore[call-arg]
