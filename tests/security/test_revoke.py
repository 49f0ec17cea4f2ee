"""`coordinator revoke` takes effect at once: an open long poll leases nothing more, and an
agent whose token is refused stops its running server and exits (red team: a revoked
agent leased a job 3 s after the revoke, its identity having been read when the poll
began)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runners import AuthError, JobSpec, Status
from runners.run.vllm_process import group_members
from runners.store.jobstore import JobStore
from tests.runners.test_agent import Host, server_groups, wait_for

REFUSED = "the coordinator refused this agent's token"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    h = Host(tmp_path)
    try:
        yield h
    finally:
        h.close()


def test_an_identity_read_before_the_revoke_leases_nothing(store: JobStore) -> None:
    token = store.add_agent("npu")
    me = store.register(store.agent_for(token), (), "h", "1", 1)  # a long poll began
    store.revoke("npu")
    job = store.submit(JobSpec(playbook="smoke", model="org/m"))
    with pytest.raises(AuthError, match="revoked"):
        store.lease(me)
    assert store.job(job.id).status is Status.QUEUED  # type: ignore[union-attr]


def registered(host: Host, name: str) -> bool:
    return any(a.name == name and a.hostname for a, _ in host.store.agents())


def test_a_revoke_cuts_the_agents_open_long_poll(host: Host) -> None:
    host.coordinator()
    agent = host.agent(host.store.add_agent("npu"))
    wait_for(lambda: registered(host, "npu"), 30, "the agent registers and polls")
    host.store.revoke("npu")
    job = host.store.submit(JobSpec(playbook="smoke", model="fake/healthy"))
    assert agent.wait(30) == 1, host.logs()
    assert host.store.job(job.id).status is Status.QUEUED  # type: ignore[union-attr]
    assert REFUSED in host.logs()


def test_a_revoked_agent_stops_its_running_server_and_reports_nothing(host: Host) -> None:
    host.coordinator()
    agent = host.agent(host.store.add_agent("npu"))
    job = host.store.submit(JobSpec(playbook="smoke", model="fake/hang"))  # loads forever
    wait_for(lambda: server_groups(host), 30, "the server starts")
    groups = server_groups(host)
    wait_for(lambda: any(group_members(g) for g in groups), 30, "the server runs")
    revoked_at = time.time()
    host.store.revoke("npu")
    assert agent.wait(30) == 1, host.logs()
    assert not any(group_members(g) for g in groups), "its server was stopped"
    after = host.store.job(job.id)
    # Running until its lease (5 s here) runs out, then lost: the coordinator's doing, and
    # on a loaded machine the server's stop can outlast the lease.
    assert after is not None and after.status in (Status.RUNNING, Status.LOST), after
    assert after.result is None, "no verdict from a revoked agent"
    reported = [
        e
        for e in host.store.events(job.id)
        if e.at >= revoked_at and e.message != "the agent stopped heartbeating"
    ]
    assert not reported, "nothing more reported by the agent"
    assert REFUSED in host.logs() and "stopping its jobs" in host.logs()
