"""A job as its agent works it: leased, heartbeaten, its events, its verdict. Each change
goes through the state machine, on a row locked for it (PostgreSQL): the reaper, a
cancel and the agent change the same row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from runners.errors import CoordinatorError, InvalidTransition
from runners.run.result import Event, EventKind, RunResult
from runners.states import VERDICTS, Phase, Status, advance, moved
from runners.store.agents import Agent
from runners.store.database import Database
from runners.store.database import now as _now
from runners.store.leasing import free_slots, next_queued, take
from runners.store.metrics import job_finished
from runners.store.records import Job, job_record
from runners.store.tables import AgentRow, EventRow, JobRow

LEASE_TRIES = 20


class AgentJobs:
    def __init__(self, db: Database, lease_for: timedelta) -> None:
        self._db, self.lease_for = db, lease_for

    def lease(self, agent: Agent) -> Job | None:
        """The oldest queued job this agent serves, now running on it; None if there is none
        or the agent has no free slot. A revoked agent is refused (AuthError) even with an
        identity read before the revoke (an open long poll)."""
        serves = {*agent.labels, agent.name}  # the admin gave the name; not the host name
        after = 0
        for _ in range(LEASE_TRIES):  # each miss is a job another agent took meanwhile
            with self._db._read() as s:
                if free_slots(s, agent) <= 0:
                    return None
                job_id = next_queued(s, serves, after)
            if job_id is None:
                return None
            now = _now()
            with self._db._write() as s:
                if take(s, agent, job_id, now, self.lease_for):
                    note = f"leased by {agent.name}"
                    leased = EventRow(
                        job_id=job_id,
                        kind=EventKind.NOTE.value,
                        phase=Phase.QUEUED.value,
                        message=note,
                    )
                    s.add(leased)
                    row = s.get(JobRow, job_id)
                    assert row is not None
                    return job_record(s, row)
            after = job_id
        return None

    def _owned(self, s: Session, agent: Agent, job_id: int) -> JobRow:
        # Locked (PostgreSQL): the reaper, a cancel and the agent change the same row.
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or row.agent_id != agent.id:
            raise CoordinatorError(f"job {job_id} is not leased to {agent.name}")
        return row

    def heartbeat(self, agent: Agent, job_id: int, log_tail: Sequence[str] = ()) -> Job:
        """Extend the lease; the job as it stands (cancel_requested, or lost) tells the agent."""
        now = _now()
        with self._db._write() as s:
            row = self._owned(s, agent, job_id)
            if row.status == Status.RUNNING.value:
                row.lease_expires = now + self.lease_for
                tail = json.dumps(list(log_tail)[-40:])
                if log_tail and tail != row.log_tail:  # news for the status message
                    row.log_tail = tail
                    row.version += 1
            s.execute(update(AgentRow).where(AgentRow.id == agent.id).values(last_seen=now))
            s.flush()
            return job_record(s, row)

    def add_events(self, agent: Agent, job_id: int, events: Sequence[Event]) -> None:
        now = _now()
        with self._db._write() as s:
            row = self._owned(s, agent, job_id)
            for e in events:
                s.add(
                    EventRow(
                        job_id=job_id,
                        kind=e.kind.value,
                        phase=e.phase.value,
                        stage=e.stage,
                        message=e.message[:2000],
                    )
                )
                if e.kind is EventKind.PHASE:
                    was = row.phase
                    row.phase = moved(row.phase, e.phase).value  # late or repeated: no move
                    row.stage = None if row.phase != was else row.stage
                elif e.kind is EventKind.STAGE:
                    row.stage = e.stage
                elif e.kind is EventKind.PROGRESS and e.stage:  # "capturing graphs 12/67"
                    row.stage = f"{e.stage} {e.message}"[:64]
            if row.status == Status.RUNNING.value:
                row.lease_expires = now + self.lease_for
                row.version += 1  # a finished job's thread is not told again
            row.updated_at = now

    def finish(self, agent: Agent, job_id: int, result: RunResult) -> Job:
        """Record the verdict; repeated (a retry after a lost reply) it changes nothing.
        A job marked lost takes its verdict when its agent comes back with one."""
        with self._db._write() as s:
            row = self._owned(s, agent, job_id)
            current = Status(row.status)
            if current in VERDICTS:
                return job_record(s, row)
            new = result.status
            if new not in VERDICTS:
                raise InvalidTransition(f"a result's status is a verdict, not {new}")
            # From running, or from lost: its agent came back with the verdict it kept.
            row.status, row.result = advance(current, new).value, result.model_dump_json()
            row.stage = result.stage  # the phase reached is the result's (Job.reached)
            row.log_tail = json.dumps(result.log_tail[-40:])
            row.version += 1
            row.updated_at, row.lease_expires = _now(), None
            s.add(
                EventRow(
                    job_id=job_id,
                    kind=EventKind.VERDICT.value,
                    phase=result.phase.value,
                    message=result.verdict,
                )
            )
            s.flush()
            done, leased_at = job_record(s, row), row.leased_at
        job_finished(done, leased_at)  # committed: observed once, in this call alone
        return done
