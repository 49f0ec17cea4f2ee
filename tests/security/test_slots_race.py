"""An agent never holds more jobs than its slots, however many of its lease calls race
(red team: 1 round in 3, a slots=1 agent got 2 jobs on PostgreSQL)."""

from __future__ import annotations

import threading

from runners import JobSpec, RunResult, Status
from runners.store.jobstore import JobStore

ROUNDS = 8
CALLS = 6  # lease calls at once for one agent: several long polls, several replicas


def race(store: JobStore, slots: int) -> list[int]:
    """One round: CALLS lease calls for one agent at the same moment; the jobs it holds."""
    me = store.register(store.agent_for(store.add_agent("npu")), (), "npu", "1", slots)
    leased: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(CALLS)

    def call() -> None:
        start.wait(30)
        job = store.lease(me)
        if job is not None:
            with lock:
                leased.append(job.id)

    for round_ in range(ROUNDS):
        jobs = [
            store.submit(JobSpec(playbook="smoke", model=f"org/m{round_}-{i}")) for i in range(4)
        ]
        threads = [threading.Thread(target=call) for _ in range(CALLS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        running = [j.id for j in jobs if (now := store.job(j.id)) and now.status is Status.RUNNING]
        assert len(running) <= slots, f"round {round_}: {len(running)} jobs on {slots} slot(s)"
        for job_id in running:  # free the slots and empty the queue for the next round
            store.finish(
                me, job_id, RunResult(playbook="smoke", status="passed", phase="text smoke")
            )
        for job in jobs:
            store.cancel(job.id, "test")
    return leased


def test_racing_lease_calls_never_give_a_one_slot_agent_two_jobs(store: JobStore) -> None:
    leased = race(store, slots=1)
    assert len(leased) == ROUNDS, "each round, one call got the job"


def test_racing_lease_calls_fill_two_slots_and_no_more(store: JobStore) -> None:
    leased = race(store, slots=2)
    assert len(leased) == 2 * ROUNDS
