"""Jobs whose agent went away or that no agent took: a restarted agent's earlier jobs,
leases run out, jobs queued too long. Each is changed by one replica alone (a locked row
or a conditional UPDATE), so two coordinators never expire one job twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from runners.run.result import EventKind, RunResult
from runners.spec.job import JobSpec
from runners.states import Phase, Status, advance
from runners.store.agents import Agent
from runners.store.database import Database
from runners.store.database import now as _now
from runners.store.tables import EventRow, JobRow


class Expiry:
    def __init__(self, db: Database, lease_for: timedelta) -> None:
        self._db, self.lease_for = db, lease_for

    def reconcile(self, agent: Agent, since: datetime) -> list[int]:
        """Jobs leased to `agent` before `since`, when it (re)started: its earlier self's.
        Never started: back to the queue; started: lost now, not a lease later. Returns
        the ids lost."""
        with self._db._read() as s:
            rows = s.execute(
                select(JobRow.id).where(
                    JobRow.agent_id == agent.id,
                    JobRow.status == Status.RUNNING.value,
                    JobRow.leased_at < since,
                )
            ).all()
        lost = []
        for (job_id,) in rows:
            with self._db._write() as s:
                row = s.get(JobRow, job_id, with_for_update=True)
                if row is None or row.status != Status.RUNNING.value or row.agent_id != agent.id:
                    continue
                started = s.scalar(
                    select(EventRow.id)
                    .where(EventRow.job_id == job_id, EventRow.phase != Phase.QUEUED.value)
                    .limit(1)
                )
                if started is None:
                    row.status = advance(Status.RUNNING, Status.QUEUED).value
                    row.phase = advance(Phase(row.phase), Phase.QUEUED).value
                    row.agent_id, row.lease_expires = None, None
                    note = f"back in the queue: {agent.name} never started it"
                else:
                    row.status = advance(Status.RUNNING, Status.LOST).value
                    note = f"{agent.name} restarted during the job"
                    lost.append(job_id)
                row.version += 1
                row.updated_at = _now()
                s.add(
                    EventRow(
                        job_id=job_id, kind=EventKind.NOTE.value, phase=row.phase, message=note
                    )
                )
        return lost

    def extend_running(self) -> None:
        """A coordinator starting up: agents get a whole lease to find it again before
        their jobs count as lost (it may have been down longer than a lease)."""
        with self._db._write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.status == Status.RUNNING.value)
                .values(lease_expires=_now() + self.lease_for)
            )

    def expire_queued(self, older_than: timedelta) -> list[int]:
        """Jobs no agent took in time (no agent has their labels, or all are away)."""
        cutoff = _now() - older_than
        with self._db._read() as s:
            ids = s.scalars(
                select(JobRow.id).where(
                    JobRow.status == Status.QUEUED.value, JobRow.created_at < cutoff
                )
            ).all()
        expired = []
        for job_id in ids:
            with self._db._write() as s:
                row = s.get(JobRow, job_id, with_for_update=True)
                if row is None or row.status != Status.QUEUED.value:
                    continue
                spec = JobSpec.model_validate_json(row.spec)
                row.status = advance(Status.QUEUED, Status.TIMEOUT).value
                row.phase = advance(Phase(row.phase), Phase.DONE).value
                wanted = f" with labels {', '.join(spec.labels)}" if spec.labels else ""
                minutes = older_than.total_seconds() / 60
                row.result = RunResult(
                    playbook=spec.playbook,
                    status=Status.TIMEOUT,
                    phase=Phase.QUEUED,
                    verdict=f"no agent{wanted} took this job in {minutes:.0f} min",
                ).model_dump_json()
                row.version += 1
                row.updated_at = _now()
                expired.append(job_id)
        return expired

    def expire_leases(self) -> list[int]:
        """Running jobs whose agent went quiet past the lease: lost. Returns their ids."""
        now = _now()
        with self._db._read() as s:
            ids = s.scalars(
                select(JobRow.id).where(
                    JobRow.status == Status.RUNNING.value, JobRow.lease_expires < now
                )
            ).all()
        lost = []
        for job_id in ids:
            with self._db._write() as s:
                won = s.execute(
                    update(JobRow)
                    .where(
                        JobRow.id == job_id,
                        JobRow.status == Status.RUNNING.value,
                        JobRow.lease_expires < now,
                    )
                    .values(
                        status=advance(Status.RUNNING, Status.LOST).value,
                        version=JobRow.version + 1,
                        updated_at=now,
                    )
                )
                if getattr(won, "rowcount", 0) == 1:
                    where = s.scalar(select(JobRow.phase).where(JobRow.id == job_id))
                    s.add(
                        EventRow(
                            job_id=job_id,
                            kind=EventKind.NOTE.value,
                            phase=where,  # the phase it was lost in (the status says lost)
                            message="the agent stopped heartbeating",
                        )
                    )
                    lost.append(job_id)
        return lost
