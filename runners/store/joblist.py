"""Jobs as readers look them up: one, several, the latest, their events, the agents and
what each is running, and a view of the jobs for a reader's own joins (the bot keeps
what it showed of each job in a table of its own, and asks what changed since)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Subquery, func, select

from runners.run.result import Event, EventKind
from runners.states import Phase, Status
from runners.store.agents import Agent, agent_record, aware
from runners.store.database import Database
from runners.store.records import Job, job_record
from runners.store.tables import AgentRow, EventRow, JobRow

MAX_LISTED = 1000
PHASES = frozenset(p.value for p in Phase)


def job_view() -> Subquery:
    """The jobs' columns a reader may join on: id, version (bumped by every change),
    status, created_at, origin (who asked, as the submitter wrote it). Read-only: every
    change goes through the JobStore."""
    return select(
        JobRow.id, JobRow.version, JobRow.status, JobRow.created_at, JobRow.origin
    ).subquery("runner_job_view")


class JobQueries:
    def __init__(self, db: Database) -> None:
        self._db = db

    def job(self, job_id: int) -> Job | None:
        with self._db._read() as s:
            row = s.get(JobRow, job_id)
            return job_record(s, row) if row else None

    def jobs(self, job_ids: Iterable[int]) -> list[Job]:
        """The jobs of `job_ids` that exist, in id order."""
        ids = sorted(set(job_ids))
        if not ids:
            return []
        with self._db._read() as s:
            rows = s.scalars(select(JobRow).where(JobRow.id.in_(ids)).order_by(JobRow.id))
            return [job_record(s, row) for row in rows]

    def recent(self, status: Status | None = None, limit: int = 20) -> list[Job]:
        """The newest jobs first, `limit` at most (capped at MAX_LISTED)."""
        query = select(JobRow).order_by(JobRow.id.desc()).limit(max(1, min(limit, MAX_LISTED)))
        if status is not None:
            query = query.where(JobRow.status == status.value)
        with self._db._read() as s:
            return [job_record(s, row) for row in s.scalars(query).all()]

    def events(self, job_id: int) -> list[Event]:
        with self._db._read() as s:
            rows = s.scalars(
                select(EventRow).where(EventRow.job_id == job_id).order_by(EventRow.id)
            ).all()
            # Coordinators before the phase was typed wrote "lost" as the phase of a lost
            # job's note: such a row reads as the phase the job stands in.
            where = s.scalar(select(JobRow.phase).where(JobRow.id == job_id))
            return [
                Event(
                    kind=EventKind(r.kind),
                    phase=Phase(r.phase if r.phase in PHASES else where or Phase.QUEUED),
                    stage=r.stage,
                    message=r.message,
                    at=aware(r.at).timestamp(),
                )
                for r in rows
            ]

    def started_at(self, job_id: int) -> datetime | None:
        """When an agent last leased the job (a job back in the queue is leased again)."""
        with self._db._read() as s:
            at = s.scalar(
                select(EventRow.at)
                .where(EventRow.job_id == job_id, EventRow.message.like("leased by %"))
                .order_by(EventRow.id.desc())
                .limit(1)
            )
        return aware(at) if at is not None else None

    def agents(self) -> list[tuple[Agent, Job | None]]:
        """The agents not revoked, each with the job it is running, if any."""
        with self._db._read() as s:
            rows = s.scalars(
                select(AgentRow).where(AgentRow.disabled.is_(False)).order_by(AgentRow.name)
            ).all()
            running = s.scalars(select(JobRow).where(JobRow.status == Status.RUNNING.value)).all()
            by_agent = {j.agent_id: j for j in running}
            return [
                (agent_record(r), job_record(s, by_agent[r.id]) if r.id in by_agent else None)
                for r in rows
            ]

    def queue_refusal(self, user: str, most: int) -> str | None:
        """Why `user` may queue no more jobs now (`most` already waiting), or None."""
        with self._db._read() as s:
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
