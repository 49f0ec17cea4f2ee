"""The coordinator's /metrics: queue depth, jobs by status and agents online counted by the
database at each scrape (two replicas on one database agree), the run time of finished
jobs, served by the coordinator alone (the app the CLI builds) and, once, by `serve`
beside the bot's own metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from bot.service import front
from runners import JobSpec, RunResult, Status
from runners.coordinator import PREFIX, coordinator_app
from runners.store.agents import hash_token
from runners.store.database import now
from runners.store.jobstore import JobStore, open_jobs
from runners.store.tables import JobRow
from tests.runners.test_agent import Host, wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient | httpx.Client, url: str = "/metrics") -> tuple[Samples, str]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return samples, response.text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.fixture
def store(url: str) -> Iterator[JobStore]:
    opened = open_jobs(url)
    try:
        yield opened
    finally:
        opened.engine.dispose()


def spec(*labels: str, model: str = "Qwen/Qwen3-8B") -> JobSpec:
    return JobSpec(playbook="smoke", model=model, labels=labels)


def register(client: TestClient, token: str, *labels: str) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {token}"}
    body = {"labels": list(labels), "hostname": "secret-host-7", "version": "0.1.0"}
    assert client.post(f"{PREFIX}/agents/register", json=body, headers=auth).status_code == 200
    return auth


def test_the_coordinator_counts_queue_agents_statuses_and_run_times(store: JobStore) -> None:
    client = TestClient(coordinator_app(store))
    before, _ = scrape(client)  # the run-time histogram is the process's: count from here
    tokens = [store.add_agent(n, ["a2", "tp8"]) for n in ("npu-1", "npu-2", "npu-3", "npu-4")]
    one = register(client, tokens[0], "a2")
    two = register(client, tokens[1], "a2", "tp8")
    register(client, tokens[2], "a2")
    assert store.revoke("npu-3")  # it was online: a revoked agent is not counted
    # npu-4 never connected: offline.
    jobs = [store.submit(spec("a2")) for _ in range(3)]
    cancelled = store.submit(spec("a2"))
    assert store.cancel(cancelled.id, "U1") is not None
    running = client.post(f"{PREFIX}/lease", json={"wait_s": 0}, headers=one).json()
    finished = client.post(f"{PREFIX}/lease", json={"wait_s": 0}, headers=two).json()
    assert [running["id"], finished["id"]] == [jobs[0].id, jobs[1].id]
    with store.engine.begin() as c:  # it ran for 90 s
        c.execute(
            update(JobRow)
            .where(JobRow.id == finished["id"])
            .values(leased_at=now() - timedelta(seconds=90))
        )
    result = RunResult(playbook="smoke", status="failed", phase="text smoke").model_dump()
    for _ in range(2):  # the agent retried after a lost reply: observed once
        done = client.post(f"{PREFIX}/jobs/{finished['id']}/result", json=result, headers=two)
        assert done.status_code == 200 and done.json()["status"] == "failed"

    after, text = scrape(client)

    assert value(after, "oncall_runner_queue_depth") == 1
    counts = {s.value: value(after, "oncall_runner_jobs", status=s.value) for s in Status}
    assert counts == {
        "queued": 1,
        "running": 1,
        "passed": 0,
        "failed": 1,
        "timeout": 0,
        "cancelled": 1,
        "blocked": 0,
        "lost": 0,
    }
    assert all(("oncall_runner_jobs", frozenset({("status", s.value)})) in after for s in Status)
    assert value(after, "oncall_runner_agents_online") == 2
    assert value(after, "oncall_runner_agents_online_by_label", label="a2") == 2
    assert value(after, "oncall_runner_agents_online_by_label", label="tp8") == 1

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    failed = {"playbook": "smoke", "status": "failed"}
    assert delta("oncall_runner_job_seconds_count", **failed) == 1
    assert 90 <= delta("oncall_runner_job_seconds_sum", **failed) < 100
    assert delta("oncall_runner_job_seconds_bucket", le="60.0", **failed) == 0
    assert delta("oncall_runner_job_seconds_bucket", le="120.0", **failed) == 1
    assert delta("oncall_runner_job_seconds_count", playbook="smoke", status="cancelled") == 0
    assert value(after, "process_cpu_seconds_total") > 0  # the process's own, when alone
    for secret in (*tokens, *map(hash_token, tokens), "secret-host-7"):
        assert secret not in text


def test_replicas_on_one_database_report_the_same_figures(url: str, store: JobStore) -> None:
    other = open_jobs(url)
    try:
        # Built twice in one process (and once more): nothing is registered twice.
        apps = [coordinator_app(store), coordinator_app(store), coordinator_app(other)]
        clients = [TestClient(app) for app in apps]
        store.submit(spec())
        store.submit(spec())
        for client in clients:
            samples, _ = scrape(client)
            assert value(samples, "oncall_runner_queue_depth") == 2
            assert value(samples, "oncall_runner_jobs", status="queued") == 2
        other.cancel(1, None)  # a change made through the other replica
        for client in clients:
            samples, _ = scrape(client)
            assert value(samples, "oncall_runner_queue_depth") == 1
            assert value(samples, "oncall_runner_jobs", status="cancelled") == 1
    finally:
        other.engine.dispose()


def test_a_database_away_leaves_the_rest_of_the_metrics(store: JobStore) -> None:
    client = TestClient(coordinator_app(store))
    store.submit(spec())
    store.engine.dispose()
    with store.engine.begin() as c:
        c.exec_driver_sql("DROP TABLE runner_job_labels")
        c.exec_driver_sql("DROP TABLE runner_events")
        c.exec_driver_sql("DROP TABLE runner_jobs")
    samples, text = scrape(client)
    assert "oncall_runner_queue_depth" not in text
    assert "oncall_runner_job_seconds" in text and "process_cpu_seconds_total" in text
    assert samples


def test_serve_adds_the_job_metrics_to_its_own_once(store: JobStore) -> None:
    """`serve` mounts the agents' API beside Slack: one /metrics, the bot's and the jobs'."""
    api: FastAPI = front(None, lambda: {"ok": True}, store)
    client = TestClient(api)
    assert [r.path for r in api.routes if getattr(r, "path", "") == "/metrics"] == ["/metrics"]
    token = store.add_agent("npu-1", ["a2"])
    register(client, token, "a2")  # the agents' API is there
    store.submit(spec("a2"))
    samples, text = scrape(client)
    assert value(samples, "oncall_runner_queue_depth") == 1
    assert value(samples, "oncall_runner_agents_online") == 1
    assert "oncall_triage_seconds_count" in text  # the bot's own
    families = re.findall(r"^# TYPE (\S+)", text, flags=re.MULTILINE)
    assert len(families) == len(set(families)), "a metric family is served twice"
    assert "oncall_runner_job_seconds" in families and "process_cpu_seconds_total" in families
    assert token not in text
    # Without the coordinator (ONCALL_COORDINATOR=false) there are no job metrics.
    _, alone = scrape(TestClient(front(None, lambda: {"ok": True}, None)))
    assert "oncall_triage_seconds_count" in alone
    assert "oncall_runner_queue_depth" not in alone and "oncall_runner_job_seconds" not in alone


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(tmp_path)
    try:
        yield h
    finally:
        h.close()


def test_ascend_oncall_coordinator_serves_metrics(host: Host) -> None:
    """The app the CLI builds, in its own process, with a real agent running one job."""
    host.coordinator()
    base = f"http://127.0.0.1:{host.port}"
    with httpx.Client(base_url=base, timeout=10) as client:
        queued = host.store.submit(spec("a2", model="fake/healthy"))
        samples, _ = scrape(client)
        assert value(samples, "oncall_runner_queue_depth") == 1
        assert value(samples, "oncall_runner_agents_online") == 0
        assert value(samples, "process_cpu_seconds_total") > 0

        token = host.store.add_agent("npu-a2", ["a2"])
        host.agent(token, "a2")
        done = host.finished(queued.id)
        assert done.status is Status.PASSED, host.logs()
        samples, text = scrape(client)
        assert value(samples, "oncall_runner_queue_depth") == 0
        assert value(samples, "oncall_runner_jobs", status="passed") == 1
        wait_for(lambda: value(scrape(client)[0], "oncall_runner_agents_online") == 1, 10, "online")
        passed = {"playbook": "smoke", "status": "passed"}
        assert value(samples, "oncall_runner_job_seconds_count", **passed) == 1
        assert value(samples, "oncall_runner_job_seconds_sum", **passed) > 0
        assert token not in text
