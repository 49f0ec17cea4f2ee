"""A job's server log from its agent to the store: through the coordinator's API, kept
once, cut and redacted again there (an agent's word is not trusted), and its delivery
handed to one replica at a time (its upload to Slack: tests/bot/test_threads.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runners import JobSpec
from runners.coordinator import PREFIX, coordinator_app
from runners.errors import CoordinatorError
from runners.store.jobstore import JobStore, open_jobs
from tests.databases import KINDS, database

SECRET = "hf_" + "a1B2c3D4e5F6g7H8i9J0"


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    with database(request.param, tmp_path) as url:
        opened = open_jobs(url, lease_s=60, max_log_bytes=8192)
        try:
            yield opened
        finally:
            opened.engine.dispose()


def _leased(store: JobStore, name: str = "npu-1") -> tuple[int, str]:
    """A job, leased to a new agent: (job id, the agent's token)."""
    job = store.submit(JobSpec(playbook="smoke", model="org/m"))
    token = store.add_agent(name)
    agent = store.register(store.agent_for(token), (), "h", "1", 1)
    leased = store.lease(agent)
    assert leased is not None and leased.id == job.id
    return job.id, token


def test_the_agent_posts_its_log_which_is_kept_once_cut_and_redacted(store: JobStore) -> None:
    client = TestClient(coordinator_app(store))
    token = store.add_agent("npu-0")
    auth = {"Authorization": f"Bearer {token}"}
    reply = client.post(f"{PREFIX}/agents/register", json={}, headers=auth)
    assert reply.json()["max_log_bytes"] == 8192, "the agent is told the cap"
    job_id = store.submit(JobSpec(playbook="smoke", model="org/m")).id
    assert client.post(f"{PREFIX}/lease", json={"wait_s": 0}, headers=auth).json()["id"] == job_id

    lines = [f"INFO line {i}\n" for i in range(4000)]  # over the cap, under the body limit
    lines[1] = f"INFO HF_TOKEN={SECRET} and a NUL \x00 here\n"
    data = "".join(lines).encode()
    url = f"{PREFIX}/jobs/{job_id}/log?total={len(data)}"
    assert client.post(url, content=data, headers=auth).status_code == 204
    kept = store.log(job_id)
    assert kept is not None
    assert len(kept.text.encode()) <= 8192 and kept.cut and kept.total_bytes == len(data)
    assert SECRET not in kept.text and "[redacted]" in kept.text
    assert "\x00" not in kept.text
    assert kept.text.startswith("INFO line 0\n") and kept.text.endswith("INFO line 3999\n")

    # A retry (the reply was lost) keeps the first.
    assert client.post(url, content=b"another log", headers=auth).status_code == 204
    again = store.log(job_id)
    assert again is not None and again.text == kept.text


def test_a_log_for_a_job_not_leased_to_the_agent_or_too_big_is_refused(
    store: JobStore,
) -> None:
    client = TestClient(coordinator_app(store))
    job_id, _ = _leased(store, "npu-1")
    other = {"Authorization": f"Bearer {store.add_agent('npu-2')}"}
    reply = client.post(f"{PREFIX}/jobs/{job_id}/log", content=b"x", headers=other)
    assert reply.status_code == 404 and "not leased to npu-2" in reply.text
    assert store.log(job_id) is None
    huge = b"x" * (8192 + 64 * 1024 + 1)
    mine = {"Authorization": f"Bearer {store.add_agent('npu-3')}"}
    assert client.post(f"{PREFIX}/jobs/{job_id}/log", content=huge, headers=mine).status_code == 413
    no_token = client.post(f"{PREFIX}/jobs/{job_id}/log", content=b"x")
    assert no_token.status_code == 401


def test_a_log_is_delivered_once_one_replica_at_a_time(store: JobStore) -> None:
    job_id, token = _leased(store)
    agent = store.agent_for(token)
    assert store.put_log(agent, job_id, b"INFO ready\n", 11)
    with store.engine.connect() as c:
        assert list(c.scalars(store.undelivered_logs())) == [job_id]
    first = store.claim_log_upload(job_id, retry_after_s=60)
    assert first is not None and first.text == "INFO ready\n" and first.tries == 1
    assert store.claim_log_upload(job_id, retry_after_s=60) is None, "one replica at a time"
    with store.engine.connect() as c:
        assert list(c.scalars(store.undelivered_logs(60))) == [], "being delivered"
    store.log_posted(job_id, "F123")
    posted = store.log(job_id)
    assert posted is not None and posted.file_id == "F123" and posted.posted_at is not None


def test_an_agent_cannot_post_a_log_for_another_agents_job(store: JobStore) -> None:
    job_id, _ = _leased(store, "npu-1")
    stranger = store.agent_for(store.add_agent("npu-2"))
    with pytest.raises(CoordinatorError, match="not leased to npu-2"):
        store.put_log(stranger, job_id, b"x", 1)
