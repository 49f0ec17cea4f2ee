"""What an agent reports is read into the typed result and events: a status or phase that
is not one is refused with 422 by the coordinator's API (not a 500 from the store), and
changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from runners import JobSpec, Phase, Status, now
from runners.coordinator import PREFIX, coordinator_app
from runners.run.result import EventKind
from runners.store.jobstore import JobStore, open_jobs
from runners.store.tables import EventRow, JobRow


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = open_jobs(f"sqlite:///{tmp_path / 'db.sqlite'}", lease_s=60)
    try:
        yield opened
    finally:
        opened.engine.dispose()


def leased(store: JobStore) -> tuple[TestClient, int, dict[str, str]]:
    """The coordinator's app, a job leased to a new agent, and that agent's auth header."""
    job = store.submit(JobSpec(playbook="smoke", model="org/m"))
    token = store.add_agent("npu-1")
    store.lease(store.register(store.agent_for(token), (), "h", "1", 1))
    return TestClient(coordinator_app(store)), job.id, {"Authorization": f"Bearer {token}"}


def result(status: str, phase: str = "text smoke") -> dict[str, Any]:
    return {"playbook": "smoke", "status": status, "phase": phase, "verdict": "v"}


@pytest.mark.parametrize(
    "body",
    [
        result("bogus"),  # no status at all
        result("running"),  # a status, not a verdict
        result("lost"),  # the coordinator's word, never an agent's
        result("passed", phase="<!channel>"),  # no playbook has this phase
    ],
)
def test_a_result_with_no_verdict_is_refused_with_422_and_changes_nothing(
    store: JobStore, body: dict[str, Any]
) -> None:
    client, job_id, auth = leased(store)
    before = store.job(job_id)
    reply = client.post(f"{PREFIX}/jobs/{job_id}/result", json=body, headers=auth)
    assert reply.status_code == 422, reply.text
    after = store.job(job_id)
    assert before and after and after.status is Status.RUNNING
    assert after.version == before.version and after.result is None
    done = client.post(f"{PREFIX}/jobs/{job_id}/result", json=result("passed"), headers=auth)
    assert done.status_code == 200 and done.json()["status"] == "passed"
    kept = store.job(job_id)
    assert kept and kept.result and kept.result.status is Status.PASSED
    assert kept.result.phase is Phase.SMOKE_TEXT


@pytest.mark.parametrize(
    "event", [{"kind": "gossip", "phase": "starting"}, {"kind": "phase", "phase": "lost"}]
)
def test_an_event_of_no_kind_or_phase_is_refused_with_422(
    store: JobStore, event: dict[str, Any]
) -> None:
    client, job_id, auth = leased(store)
    good = {"kind": "phase", "phase": "starting"}
    reply = client.post(
        f"{PREFIX}/jobs/{job_id}/events", json={"events": [good, event]}, headers=auth
    )
    assert reply.status_code == 422, reply.text
    job = store.job(job_id)
    assert job and job.phase is Phase.PREFLIGHT  # the batch was refused whole
    assert [e.kind for e in store.events(job_id)] == [EventKind.PHASE, EventKind.NOTE]


def test_a_lost_job_s_note_is_filed_under_the_phase_it_was_lost_in(store: JobStore) -> None:
    client, job_id, auth = leased(store)
    moved = client.post(
        f"{PREFIX}/jobs/{job_id}/events",
        json={"events": [{"kind": "phase", "phase": "starting"}]},
        headers=auth,
    )
    assert moved.status_code == 204
    with store.engine.begin() as c:  # its agent went quiet a lease ago
        c.execute(update(JobRow).values(lease_expires=now() - timedelta(minutes=1)))
    assert store.expire_leases() == [job_id]
    job = store.job(job_id)
    assert job and job.status is Status.LOST and job.phase is Phase.STARTING
    note = store.events(job_id)[-1]
    assert note.kind is EventKind.NOTE and note.phase is Phase.STARTING
    assert note.message == "the agent stopped heartbeating"
    with store.engine.connect() as c:  # as stored: a phase, not the status
        stored = c.execute(select(EventRow.phase).order_by(EventRow.id.desc())).scalar()
    assert stored == "starting"


def test_a_note_stored_with_a_status_for_its_phase_reads_as_the_job_s_phase(
    store: JobStore,
) -> None:
    """Coordinators before the phase was typed filed a lost job's note under "lost"."""
    _, job_id, _ = leased(store)
    with store.engine.begin() as c:
        c.execute(insert(EventRow).values(job_id=job_id, kind="note", phase="lost", message="m"))
    assert store.events(job_id)[-1].phase is Phase.PREFLIGHT
