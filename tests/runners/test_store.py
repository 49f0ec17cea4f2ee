"""The job store on SQLite and on a real PostgreSQL: leases are exclusive, quiet agents'
jobs become lost, verdicts go through the state machine, tokens are kept only as hashes,
and every dispatch is audited."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from runners import (
    AuthError,
    CoordinatorError,
    Event,
    InvalidTransition,
    JobSpec,
    RunResult,
    Status,
)
from runners.store.jobstore import JobStore


def spec(model: str = "org/m", labels: tuple[str, ...] = ()) -> JobSpec:
    return JobSpec(playbook="smoke", model=model, labels=labels)


def agent(store: JobStore, name: str, labels: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    token = store.add_agent(name, list(labels))  # an agent claims only what it was given
    return store.register(store.agent_for(token), labels, f"{name}.local", "1", 1)


def test_tokens_are_stored_only_as_hashes_and_revocable(store: JobStore) -> None:
    token = store.add_agent("npu-01")
    assert token.startswith("oncall_") and len(token) > 40
    with store.engine.connect() as c:
        stored = c.execute(text("SELECT token_hash FROM runner_agents")).scalar_one()
    assert token not in stored and len(stored) == 64
    assert store.agent_for(token).name == "npu-01"
    with pytest.raises(AuthError):
        store.agent_for(token + "x")
    store.revoke("npu-01")
    with pytest.raises(AuthError):
        store.agent_for(token)


def test_an_agent_leases_only_jobs_its_labels_allow(store: JobStore) -> None:
    a2 = agent(store, "a2-host", ("a2",))
    a3 = agent(store, "a3-host", ("a3", "tp16"))
    for_a3 = store.submit(spec(labels=("a3", "tp16")))
    by_name = store.submit(spec(labels=("a2-host",)))
    leased = store.lease(a2)
    assert leased is not None and leased.id == by_name.id and leased.agent == "a2-host"
    leased = store.lease(a3)
    assert leased is not None and leased.id == for_a3.id and leased.status is Status.RUNNING
    assert store.lease(a3) is None, "one job at a time per host"


def test_racing_agents_never_lease_the_same_job(store: JobStore) -> None:
    agents = [agent(store, f"host{i}") for i in range(5)]
    for i in range(20):
        store.submit(spec(f"org/m{i}"))
    taken: list[int] = []
    lock = threading.Lock()

    def work(me) -> None:  # type: ignore[no-untyped-def]
        while (job := store.lease(me)) is not None:
            with lock:
                taken.append(job.id)
            store.finish(
                me, job.id, RunResult(playbook="smoke", status="passed", phase="text smoke")
            )

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 20


def test_a_quiet_agent_loses_its_job_and_a_late_verdict_still_lands(store: JobStore) -> None:
    quick = JobStore(store.engine, lease_s=0.2)
    me = agent(quick, "host")
    job = quick.submit(spec())
    assert quick.lease(me) is not None
    time.sleep(0.4)
    assert quick.expire_leases() == [job.id]
    assert quick.expire_leases() == [], "once"
    lost = quick.job(job.id)
    assert lost is not None and lost.status is Status.LOST and lost.version > job.version
    back = quick.finish(me, job.id, RunResult(playbook="smoke", status="failed", phase="starting"))
    assert back.status is Status.FAILED


def test_heartbeats_keep_a_lease_and_carry_cancel(store: JobStore) -> None:
    quick = JobStore(store.engine, lease_s=0.5)
    me = agent(quick, "host")
    job = quick.submit(spec())
    quick.lease(me)
    for _ in range(4):
        time.sleep(0.2)
        beat = quick.heartbeat(me, job.id, ["INFO loading"])
        assert beat.status is Status.RUNNING and not beat.cancel_requested
    assert quick.expire_leases() == []
    quick.cancel(job.id, "U1")
    assert quick.heartbeat(me, job.id).cancel_requested
    done = quick.finish(
        me, job.id, RunResult(playbook="smoke", status="cancelled", phase="starting")
    )
    assert done.status is Status.CANCELLED


def test_a_queued_job_is_cancelled_at_once(store: JobStore) -> None:
    job = store.submit(spec())
    cancelled = store.cancel(job.id, "U1")
    assert cancelled is not None and cancelled.status is Status.CANCELLED
    assert cancelled.result is not None and "before it started" in cancelled.result.verdict
    assert store.lease(agent(store, "host")) is None


def test_verdicts_follow_the_state_machine_and_repeat_harmlessly(store: JobStore) -> None:
    me, other = agent(store, "host"), agent(store, "other")
    job = store.submit(spec())
    store.lease(me)
    with pytest.raises(CoordinatorError, match="not leased to other"):
        store.finish(
            other, job.id, RunResult(playbook="smoke", status="passed", phase="text smoke")
        )
    with pytest.raises(InvalidTransition):
        store.finish(me, job.id, RunResult(playbook="smoke", status="queued", phase="text smoke"))
    result = RunResult(playbook="smoke", status="passed", phase="text smoke")
    first = store.finish(me, job.id, result)
    again = store.finish(me, job.id, result)  # the agent retried after a lost reply
    assert first.status is again.status is Status.PASSED and again.version == first.version


def test_a_jobs_origin_is_kept_as_its_submitter_wrote_it(store: JobStore) -> None:
    job = store.submit(spec(), origin='{"any": "words"}')
    assert job.origin == '{"any": "words"}' and store.submit(spec()).origin is None
    assert [j.id for j in store.jobs([job.id, 999, job.id])] == [job.id]


def test_every_dispatch_is_audited(store: JobStore) -> None:
    store.audit(source="slash", command="/smoke org/m", allowed=True, user_id="U1", job_id=1)
    store.audit(source="slash", command="/smoke x; rm", allowed=False, reason="bad", user_id="U2")
    store.audit(source="slash", command="/smoke org/m", allowed=True, origin="C1")
    rows = store.dispatches()
    assert [(r["user"], r["allowed"]) for r in rows] == [(None, True), ("U2", False), ("U1", True)]
    assert rows[0]["origin"] == "C1" and rows[1]["origin"] is None


def test_a_restarted_agent_gives_back_what_it_never_started(store: JobStore) -> None:
    me = agent(store, "host")
    untouched, started = store.submit(spec("org/a")), store.submit(spec("org/b"))
    two_slots = store.register(me, (), "host", "1", 2)
    assert store.lease(two_slots) and store.lease(two_slots)
    store.add_events(me, started.id, [Event(kind="phase", phase="preflight")])
    lost = store.reconcile(me, datetime.now(UTC) + timedelta(seconds=1))
    assert lost == [started.id]
    assert store.job(untouched.id).status is Status.QUEUED  # type: ignore[union-attr]
    assert store.job(started.id).status is Status.LOST  # type: ignore[union-attr]


def test_jobs_nobody_takes_time_out_in_the_queue(store: JobStore) -> None:
    job = store.submit(spec(labels=("a3",)))
    assert store.expire_queued(timedelta(hours=1)) == []
    assert store.expire_queued(timedelta(seconds=-1)) == [job.id]
    timed_out = store.job(job.id)
    assert timed_out and timed_out.status is Status.TIMEOUT and timed_out.result
    assert "no agent with labels a3" in timed_out.result.verdict


def test_idle_chatter_and_late_events_change_nothing(store: JobStore) -> None:
    me = agent(store, "host")
    job = store.submit(spec())
    store.lease(me)
    beat = store.heartbeat(me, job.id, ["INFO loading"])
    assert store.heartbeat(me, job.id, ["INFO loading"]).version == beat.version
    done = store.finish(
        me, job.id, RunResult(playbook="smoke", status="passed", phase="text smoke")
    )
    store.add_events(me, job.id, [Event(kind="note", phase="done", message="late")])
    assert store.job(job.id).version == done.version  # type: ignore[union-attr]


def test_an_agent_may_claim_only_the_labels_it_was_given(store: JobStore) -> None:
    token = store.add_agent("npu-a2", ["a2", "tp8"])
    me = store.agent_for(token)
    assert store.register(me, ("a2",), "h", "1", 1).labels == ("a2",)
    with pytest.raises(AuthError, match="may not claim the labels a3"):
        store.register(me, ("a2", "a3"), "h", "1", 1)
    assert store.served(("a2",)) and not store.served(("a3",))
