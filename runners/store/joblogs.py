"""Each job's server log, as its agent sent it with the verdict, and its one delivery to
whoever asked (the bot uploads it to the job's thread). What an agent sends is hostile:
cut to the cap again here, redacted again, and kept once (a retry after a lost reply
changes nothing). The delivery is handed to one replica at a time by a conditional
UPDATE; one that failed is offered again after `retry_after_s`, a few times at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError

from runners.errors import CoordinatorError
from runners.redact import redact
from runners.run.logcut import DEFAULT_MAX_LOG_BYTES, cut_log
from runners.store.agents import Agent, aware
from runners.store.database import Database
from runners.store.database import now as _now
from runners.store.tables import JobLogRow, JobRow

UPLOAD_TRIES = 5
RETRY_AFTER_S = 120.0  # longer than one upload takes, so a slow one is never doubled


@dataclass(frozen=True)
class JobLog:
    job_id: int
    text: str
    total_bytes: int  # the log's size on its host; more than the text's when it was cut
    at: datetime
    tries: int
    posted_at: datetime | None
    file_id: str | None

    @property
    def cut(self) -> bool:
        return self.total_bytes > len(self.text.encode())


def _record(row: JobLogRow) -> JobLog:
    return JobLog(
        job_id=row.job_id,
        text=row.text,
        total_bytes=row.total_bytes,
        at=aware(row.at),
        tries=row.tries,
        posted_at=aware(row.posted_at) if row.posted_at else None,
        file_id=row.file_id,
    )


def clean_log(data: bytes, limit: int) -> str:
    """What an agent sent, fit to keep and show: within `limit`, text (a database column
    takes no NUL), secrets masked."""
    text = cut_log(data, limit).decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return redact(text)


class JobLogs:
    def __init__(self, db: Database, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES) -> None:
        self._db = db
        # The coordinator's cap (ONCALL_MAX_LOG_UPLOAD_BYTES); agents are told it on register.
        self.max_log_bytes = max_log_bytes

    def put_log(self, agent: Agent, job_id: int, data: bytes, total_bytes: int) -> bool:
        """Keep the log `agent` sent for its job; False when one is kept already.
        CoordinatorError: the job is not leased to this agent."""
        text = clean_log(data, self.max_log_bytes)
        total = max(len(data), min(total_bytes, 2**62))
        try:
            with self._db._write() as s:
                job = s.get(JobRow, job_id)
                if job is None or job.agent_id != agent.id:
                    raise CoordinatorError(f"job {job_id} is not leased to {agent.name}")
                if s.get(JobLogRow, job_id) is not None:
                    return False
                s.add(JobLogRow(job_id=job_id, text=text, total_bytes=total))
        except IntegrityError:  # the same log at the same moment: the other one won
            return False
        return True

    def log(self, job_id: int) -> JobLog | None:
        with self._db._read() as s:
            row = s.get(JobLogRow, job_id)
            return _record(row) if row else None

    def undelivered_logs(self, retry_after_s: float = RETRY_AFTER_S) -> Select[int]:
        """The ids of jobs whose log is not delivered, not being delivered (claimed under
        `retry_after_s` ago) and not given up: a query for the deliverer to join with its
        own records of what it showed (the bot: verdicts posted)."""
        cutoff = _now() - timedelta(seconds=retry_after_s)
        return select(JobLogRow.job_id).where(
            JobLogRow.posted_at.is_(None),
            JobLogRow.tries < UPLOAD_TRIES,
            JobLogRow.tried_at.is_(None) | (JobLogRow.tried_at < cutoff),
        )

    def claim_log_upload(self, job_id: int, retry_after_s: float = RETRY_AFTER_S) -> JobLog | None:
        """The log, for the one replica that uploads it now; None when it is posted, being
        posted (tried under `retry_after_s` ago), given up, or there is none."""
        now = _now()
        cutoff = now - timedelta(seconds=retry_after_s)
        with self._db._write() as s:
            won = s.execute(
                update(JobLogRow)
                .where(
                    JobLogRow.job_id == job_id,
                    JobLogRow.posted_at.is_(None),
                    JobLogRow.tries < UPLOAD_TRIES,
                    JobLogRow.tried_at.is_(None) | (JobLogRow.tried_at < cutoff),
                )
                .values(tried_at=now, tries=JobLogRow.tries + 1)
            )
            if getattr(won, "rowcount", 0) != 1:
                return None
            row = s.get(JobLogRow, job_id)
            assert row is not None
            return _record(row)

    def log_posted(self, job_id: int, file_id: str | None) -> None:
        with self._db._write() as s:
            s.execute(
                update(JobLogRow)
                .where(JobLogRow.job_id == job_id)
                .values(posted_at=_now(), file_id=(file_id or "")[:32] or None)
            )

    def log_given_up(self, job_id: int) -> None:
        """Its reader refused it for good (the bot: a missing scope): never again."""
        with self._db._write() as s:
            s.execute(
                update(JobLogRow).where(JobLogRow.job_id == job_id).values(tries=UPLOAD_TRIES)
            )
