"""What of each job chat has been shown: the status message posted, the version last
shown, the verdict last posted. Conditional updates hand each change to one replica."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from runners.agents import AgentRegistry
from runners.database import now as _now
from runners.records import Job, job_record
from runners.tables import JobRow


class Notices(AgentRegistry):
    def changed(self, limit: int = 50) -> list[Job]:
        with self._read() as s:
            rows = s.scalars(
                select(JobRow)
                .where(
                    JobRow.version > JobRow.notified_version,
                    JobRow.message_ts.is_not(None),  # jobs with no chat message never show
                    JobRow.message_ts != "",  # being posted
                )
                .order_by(JobRow.id)
                .limit(limit)
            ).all()
            return [job_record(s, r) for r in rows]

    def unposted(self, older_than_s: float = 15.0) -> list[Job]:
        """Jobs for chat whose status message was never posted (the bot died in between)."""
        cutoff = _now() - timedelta(seconds=older_than_s)
        with self._read() as s:
            rows = s.scalars(
                select(JobRow)
                .where(
                    JobRow.channel_id.is_not(None),
                    JobRow.message_ts.is_(None),
                    JobRow.created_at < cutoff,
                    JobRow.created_at > cutoff - timedelta(days=1),
                )
                .order_by(JobRow.id)
                .limit(20)
            ).all()
            return [job_record(s, r) for r in rows]

    def claim_post(self, job_id: int) -> bool:
        """True for the one replica that posts this job's status message."""
        with self._write() as s:
            won = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.message_ts.is_(None))
                .values(message_ts="")
            )
        return getattr(won, "rowcount", 0) == 1

    def claim_verdict(self, job: Job) -> bool:
        """True once per final status: the verdict of a lost job that later finishes is
        posted again, the same verdict never twice."""
        with self._write() as s:
            won = s.execute(
                update(JobRow)
                .where(
                    JobRow.id == job.id,
                    JobRow.status == job.status.value,
                    (JobRow.shown_status.is_(None)) | (JobRow.shown_status != job.status.value),
                )
                .values(shown_status=job.status.value)
            )
        return getattr(won, "rowcount", 0) == 1

    def release_notice(self, job: Job) -> None:
        """This version could not be shown after all: offer it again."""
        with self._write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job.id, JobRow.notified_version == job.version)
                .values(notified_version=0)
            )

    def release_verdict(self, job: Job) -> None:
        with self._write() as s:
            s.execute(
                update(JobRow)
                .where(JobRow.id == job.id, JobRow.shown_status == job.status.value)
                .values(shown_status=None)
            )

    def claim_notice(self, job: Job) -> bool:
        """True for the one replica that shows this version of the job."""
        with self._write() as s:
            won = s.execute(
                update(JobRow)
                .where(JobRow.id == job.id, JobRow.notified_version < job.version)
                .values(notified_version=job.version)
            )
        return getattr(won, "rowcount", 0) == 1
