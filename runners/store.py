"""Runner jobs in the shared SQLAlchemy database: agents and their hashed tokens, jobs,
their events, and an audit of every dispatch. Each change of a job goes through the state
machine and a conditional UPDATE, so two agents never lease one job and two coordinator
replicas never expire one lease twice. The schema is Alembic's (runners/migrations) with
its own version table beside the bot's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from runners.agents import Agent, agent_record, aware
from runners.database import connect, safe_url
from runners.database import now as _now
from runners.errors import CoordinatorError, InvalidTransition, RunnerError
from runners.joblist import JobQueries
from runners.joblogs import JobLogs
from runners.leasing import free_slots, next_queued, take
from runners.logcut import DEFAULT_MAX_LOG_BYTES
from runners.metrics import job_finished
from runners.notices import Notices
from runners.records import Job, job_record
from runners.result import Event, RunResult
from runners.spec import JobSpec, check_labels
from runners.states import VERDICTS, Phase, Status, advance, moved
from runners.tables import AgentRow, EventRow, JobLabelRow, JobRow, migrate

LEASE_TRIES = 20


class JobStore(Notices, JobLogs, JobQueries):
    """Jobs: queued, leased, heartbeaten, finished, cancelled, lost; shown in chat once."""

    def agents(self) -> list[tuple[Agent, Job | None]]:
        with self._read() as s:
            rows = s.scalars(
                select(AgentRow).where(AgentRow.disabled.is_(False)).order_by(AgentRow.name)
            ).all()
            running = s.scalars(select(JobRow).where(JobRow.status == Status.RUNNING.value)).all()
            by_agent = {j.agent_id: j for j in running}
            return [
                (agent_record(r), job_record(s, by_agent[r.id]) if r.id in by_agent else None)
                for r in rows
            ]

    # Jobs.

    def submit(
        self,
        spec: JobSpec,
        *,
        requested_by: str | None = None,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        team_id: str | None = None,
        parent_id: int | None = None,
        request_key: str | None = None,
    ) -> Job:
        """Queue `spec`. With a `request_key` seen before, the job queued then is returned
        (`Job.repeat` is True) and nothing new is queued."""
        if request_key is not None:
            with self._read() as s:
                row = s.scalar(select(JobRow).where(JobRow.request_key == request_key[:200]))
                if row is not None:
                    return replace(job_record(s, row), repeat=True)
        try:
            return self._submit(
                spec, requested_by, channel_id, thread_ts, team_id, parent_id, request_key
            )
        except IntegrityError:  # the same request at the same moment: the other one won
            with self._read() as s:
                row = s.scalar(
                    select(JobRow).where(JobRow.request_key == (request_key or "")[:200])
                )
                if row is None:
                    raise
                return replace(job_record(s, row), repeat=True)

    def _submit(
        self,
        spec: JobSpec,
        requested_by: str | None,
        channel_id: str | None,
        thread_ts: str | None,
        team_id: str | None,
        parent_id: int | None,
        request_key: str | None,
    ) -> Job:
        labels = check_labels(spec.labels)  # each a table row, matched in SQL when leasing
        with self._write() as s:
            row = JobRow(
                request_key=request_key[:200] if request_key else None,
                spec=spec.model_dump_json(),
                labels=json.dumps(list(labels)),
                requested_by=requested_by,
                channel_id=channel_id,
                thread_ts=thread_ts,
                team_id=team_id,
                parent_id=parent_id,
            )
            s.add(row)
            s.flush()
            s.add_all(JobLabelRow(job_id=row.id, label=label) for label in set(labels))
            s.add(EventRow(job_id=row.id, kind="phase", phase="queued", message=spec.describe()))
            return job_record(s, row)

    def set_message(self, job_id: int, channel_id: str, message_ts: str) -> None:
        with self._write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(channel_id=channel_id, message_ts=message_ts)
            )

    def job(self, job_id: int) -> Job | None:
        with self._read() as s:
            row = s.get(JobRow, job_id)
            return job_record(s, row) if row else None

    def events(self, job_id: int) -> list[Event]:
        with self._read() as s:
            rows = s.scalars(
                select(EventRow).where(EventRow.job_id == job_id).order_by(EventRow.id)
            )
            return [
                Event(
                    kind=r.kind,
                    phase=r.phase,
                    stage=r.stage,
                    message=r.message,
                    at=aware(r.at).timestamp(),
                )
                for r in rows
            ]

    def reconcile(self, agent: Agent, since: datetime) -> list[int]:
        """Jobs leased to `agent` before `since`, when it (re)started: its earlier self's.
        Never started: back to the queue; started: lost now, not a lease later. Returns
        the ids lost."""
        with self._read() as s:
            rows = s.execute(
                select(JobRow.id).where(
                    JobRow.agent_id == agent.id,
                    JobRow.status == Status.RUNNING.value,
                    JobRow.leased_at < since,
                )
            ).all()
        lost = []
        for (job_id,) in rows:
            with self._write() as s:
                row = s.get(JobRow, job_id, with_for_update=True)
                if row is None or row.status != Status.RUNNING.value or row.agent_id != agent.id:
                    continue
                started = s.scalar(
                    select(EventRow.id)
                    .where(EventRow.job_id == job_id, EventRow.phase != "queued")
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
                s.add(EventRow(job_id=job_id, kind="note", phase=row.phase, message=note))
        return lost

    def lease(self, agent: Agent) -> Job | None:
        """The oldest queued job this agent serves, now running on it; None if there is none
        or the agent has no free slot. A revoked agent is refused (AuthError) even with an
        identity read before the revoke (an open long poll)."""
        serves = {*agent.labels, agent.name}  # the admin gave the name; not the host name
        after = 0
        for _ in range(LEASE_TRIES):  # each miss is a job another agent took meanwhile
            with self._read() as s:
                if free_slots(s, agent) <= 0:
                    return None
                job_id = next_queued(s, serves, after)
            if job_id is None:
                return None
            now = _now()
            with self._write() as s:
                if take(s, agent, job_id, now, self.lease_for):
                    note = f"leased by {agent.name}"
                    s.add(EventRow(job_id=job_id, kind="note", phase="queued", message=note))
                    row = s.get(JobRow, job_id)
                    assert row is not None
                    return job_record(s, row)
            after = job_id
        return None

    def queue_refusal(self, user: str, most: int) -> str | None:
        """Why `user` may queue no more jobs now (`most` already waiting), or None."""
        with self._read() as s:
            queued = s.scalar(
                select(func.count())
                .select_from(JobRow)
                .where(JobRow.requested_by == user, JobRow.status == Status.QUEUED.value)
            )
        if int(queued or 0) < most:
            return None
        return (
            f"You have {queued} jobs queued already, the most one person may have waiting "
            "(ONCALL_MAX_QUEUED_PER_USER): cancel one, or wait for one to start. "
            "`/runners` shows which agents are online."
        )

    def _owned(self, s: Session, agent: Agent, job_id: int) -> JobRow:
        # Locked (PostgreSQL): the reaper, a cancel and the agent change the same row.
        row = s.get(JobRow, job_id, with_for_update=True)
        if row is None or row.agent_id != agent.id:
            raise CoordinatorError(f"job {job_id} is not leased to {agent.name}")
        return row

    def heartbeat(self, agent: Agent, job_id: int, log_tail: Sequence[str] = ()) -> Job:
        """Extend the lease; the job as it stands (cancel_requested, or lost) tells the agent."""
        now = _now()
        with self._write() as s:
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
        with self._write() as s:
            row = self._owned(s, agent, job_id)
            for e in events:
                s.add(
                    EventRow(
                        job_id=job_id,
                        kind=e.kind,
                        phase=e.phase,
                        stage=e.stage,
                        message=e.message[:2000],
                    )
                )
                if e.kind == "phase":
                    phase = moved(row.phase, e.phase).value  # late or repeated: no move
                    row.phase, row.stage = phase, None if phase != row.phase else row.stage
                elif e.kind == "stage":
                    row.stage = e.stage
                elif e.kind == "progress" and e.stage:  # "capturing graphs 12/67"
                    row.stage = f"{e.stage} {e.message}"[:64]
            if row.status == Status.RUNNING.value:
                row.lease_expires = now + self.lease_for
                row.version += 1  # a finished job's thread is not told again
            row.updated_at = now

    def finish(self, agent: Agent, job_id: int, result: RunResult) -> Job:
        """Record the verdict; repeated (a retry after a lost reply) it changes nothing.
        A job marked lost takes its verdict when its agent comes back with one."""
        with self._write() as s:
            row = self._owned(s, agent, job_id)
            current = Status(row.status)
            if current in VERDICTS:
                return job_record(s, row)
            new = Status(result.status)
            if new not in VERDICTS:
                raise InvalidTransition(f"a result's status is a verdict, not {new}")
            # From running, or from lost: its agent came back with the verdict it kept.
            row.status, row.result = advance(current, new).value, result.model_dump_json()
            row.stage = result.stage  # the phase reached is the result's (Job.reached)
            row.log_tail = json.dumps(result.log_tail[-40:])
            row.version += 1
            row.updated_at, row.lease_expires = _now(), None
            s.add(
                EventRow(job_id=job_id, kind="verdict", phase=result.phase, message=result.verdict)
            )
            s.flush()
            done, leased_at = job_record(s, row), row.leased_at
        job_finished(done, leased_at)  # committed: observed once, in this call alone
        return done

    def cancel(self, job_id: int, by: str | None) -> Job | None:
        """A queued job is cancelled at once; a running one is asked to stop on its host."""
        with self._write() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                return None
            status = Status(row.status)
            if status is Status.QUEUED:
                row.status = advance(status, Status.CANCELLED).value
                row.phase = advance(Phase(row.phase), Phase.DONE).value
                row.result = RunResult(
                    playbook=JobSpec.model_validate_json(row.spec).playbook,
                    status="cancelled",
                    phase="queued",
                    verdict=f"cancelled before it started{f' by {by}' if by else ''}",
                ).model_dump_json()
            elif status is Status.RUNNING:
                row.cancel_requested = True
            else:
                return job_record(s, row)
            s.add(
                EventRow(
                    job_id=job_id,
                    kind="note",
                    phase=row.phase,
                    message=f"cancel requested by {by or 'someone'}",
                )
            )
            row.version += 1
            row.updated_at = _now()
            s.flush()
            return job_record(s, row)

    def extend_running(self) -> None:
        """A coordinator starting up: agents get a whole lease to find it again before
        their jobs count as lost (it may have been down longer than a lease)."""
        with self._write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.status == Status.RUNNING.value)
                .values(lease_expires=_now() + self.lease_for)
            )

    def expire_queued(self, older_than: timedelta) -> list[int]:
        """Jobs no agent took in time (no agent has their labels, or all are away)."""
        cutoff = _now() - older_than
        with self._read() as s:
            ids = s.scalars(
                select(JobRow.id).where(
                    JobRow.status == Status.QUEUED.value, JobRow.created_at < cutoff
                )
            ).all()
        expired = []
        for job_id in ids:
            with self._write() as s:
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
                    status="timeout",
                    phase="queued",
                    verdict=f"no agent{wanted} took this job in {minutes:.0f} min",
                ).model_dump_json()
                row.version += 1
                row.updated_at = _now()
                expired.append(job_id)
        return expired

    def expire_leases(self) -> list[int]:
        """Running jobs whose agent went quiet past the lease: lost. Returns their ids."""
        now = _now()
        with self._read() as s:
            ids = s.scalars(
                select(JobRow.id).where(
                    JobRow.status == Status.RUNNING.value, JobRow.lease_expires < now
                )
            ).all()
        lost = []
        for job_id in ids:
            with self._write() as s:
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
                    s.add(
                        EventRow(
                            job_id=job_id,
                            kind="note",
                            phase=Status.LOST.value,
                            message="the agent stopped heartbeating",
                        )
                    )
                    lost.append(job_id)
        return lost


def open_jobs(
    url: str, lease_s: float = 60.0, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
) -> JobStore:
    """Connect and bring the runner tables up to date. `max_log_bytes`: the most of a
    job's server log kept (ONCALL_MAX_LOG_UPLOAD_BYTES)."""
    try:
        engine = connect(url)
        migrate(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise RunnerError(f"cannot open the database {safe_url(url)}: {exc}") from exc
    store = JobStore(engine, lease_s)
    store.max_log_bytes = max_log_bytes
    return store
