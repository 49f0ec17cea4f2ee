"""Jobs as people look them up outside chat: the latest, of one status or all, and when
each was taken by its agent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from runners.agents import aware
from runners.database import Database
from runners.records import Job, job_record
from runners.states import Status
from runners.tables import EventRow, JobRow

MAX_LISTED = 1000


class JobQueries(Database):
    def recent(self, status: Status | None = None, limit: int = 20) -> list[Job]:
        """The newest jobs first, `limit` at most (capped at MAX_LISTED)."""
        query = select(JobRow).order_by(JobRow.id.desc()).limit(max(1, min(limit, MAX_LISTED)))
        if status is not None:
            query = query.where(JobRow.status == status.value)
        with self._read() as s:
            return [job_record(s, row) for row in s.scalars(query).all()]

    def started_at(self, job_id: int) -> datetime | None:
        """When an agent last leased the job (a job back in the queue is leased again)."""
        with self._read() as s:
            at = s.scalar(
                select(EventRow.at)
                .where(EventRow.job_id == job_id, EventRow.message.like("leased by %"))
                .order_by(EventRow.id.desc())
                .limit(1)
            )
        return aware(at) if at is not None else None
