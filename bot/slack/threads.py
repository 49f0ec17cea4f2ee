"""Where each runner job is shown in Slack and what it was shown: its status message, the
version last shown, the verdict last posted. The runners know none of it: a job keeps
only an opaque `origin` (here, the channel and thread it was asked from), written with
the job in one insert, so a bot that dies before posting finds the job again.

Conditional updates hand each change to one replica: one posts the status message (the
row's insert), one shows each version, one posts each verdict, one uploads each log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Integer, String, Update, and_, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.store import Base
from runners import Database, Job, JobStore, job_view
from runners import now as _now

CHANGED_AT_ONCE = 50


class RunThreadRow(Base):
    """One runner job's place in Slack; no foreign key: the runners' tables are theirs."""

    __tablename__ = "bot_run_threads"

    job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))  # None: the channel itself
    message_ts: Mapped[str] = mapped_column(String(32), default="")  # "": being posted
    notified_version: Mapped[int] = mapped_column(Integer, default=0)  # last shown
    shown_status: Mapped[str | None] = mapped_column(String(16))  # whose verdict was posted


@dataclass(frozen=True)
class RunThread:
    job_id: int
    channel_id: str
    thread_ts: str | None
    message_ts: str  # the status message; "" while it is being posted
    team_id: str | None

    @property
    def reply_ts(self) -> str | None:
        """Where the verdict, the log and the next rung go: the job's thread, or the one
        its status message starts."""
        return self.thread_ts or self.message_ts or None


def _thread(row: RunThreadRow) -> RunThread:
    return RunThread(row.job_id, row.channel_id, row.thread_ts, row.message_ts, row.team_id)


def origin(channel_id: str | None, thread_ts: str | None, team_id: str | None) -> str | None:
    """What a job asked for in Slack keeps in the runners' store (None: not from a channel)."""
    if not channel_id:
        return None
    return json.dumps({"team": team_id, "channel": channel_id, "thread": thread_ts})


def _place(job: Job) -> tuple[str, str | None, str | None] | None:
    """(channel, thread, team) from the job's origin; None when it was not asked in Slack."""
    try:
        said = json.loads(job.origin or "null")
    except ValueError:
        return None
    if not isinstance(said, dict) or not said.get("channel"):
        return None
    return str(said["channel"]), said.get("thread"), said.get("team")


class RunThreads(Database):
    """The bot's records of runner jobs in Slack, beside the runners' own tables (the
    same database: the queries join them)."""

    def __init__(self, jobs: JobStore) -> None:
        super().__init__(jobs.engine)
        self.jobs = jobs

    def claim_post(self, job: Job) -> RunThread | None:
        """Where to post the job's status message, for the one replica that posts it;
        None for the others and for jobs not asked for in Slack."""
        place = _place(job)
        if place is None:
            return None
        channel, thread, team = place
        row = RunThreadRow(job_id=job.id, channel_id=channel, thread_ts=thread, team_id=team)
        try:
            with self._write() as s:
                s.add(row)
        except IntegrityError:  # another replica claimed it first
            return None
        return _thread(row)

    def set_message(self, job_id: int, message_ts: str) -> None:
        with self._write() as s:
            s.execute(
                update(RunThreadRow)
                .where(RunThreadRow.job_id == job_id)
                .values(message_ts=message_ts)
            )

    def thread(self, job_id: int) -> RunThread | None:
        with self._read() as s:
            row = s.get(RunThreadRow, job_id)
            return _thread(row) if row else None

    def unposted(self, older_than_s: float = 15.0) -> list[Job]:
        """Jobs asked for in Slack whose status message was never claimed (the bot died
        between queueing the job and posting it)."""
        cutoff = _now() - timedelta(seconds=older_than_s)
        view = job_view()
        with self._read() as s:
            ids = s.scalars(
                select(view.c.id)
                .outerjoin(RunThreadRow, RunThreadRow.job_id == view.c.id)
                .where(
                    view.c.origin.is_not(None),
                    RunThreadRow.job_id.is_(None),
                    view.c.created_at < cutoff,
                    view.c.created_at > cutoff - timedelta(days=1),
                )
                .order_by(view.c.id)
                .limit(20)
            ).all()
        return [job for job in self.jobs.jobs(ids) if _place(job) is not None]

    def changed(self, limit: int = CHANGED_AT_ONCE) -> list[tuple[Job, RunThread]]:
        """Jobs changed since their status message last showed them, with their thread."""
        view = job_view()
        with self._read() as s:
            rows = s.scalars(
                select(RunThreadRow)
                .join(view, view.c.id == RunThreadRow.job_id)
                .where(
                    view.c.version > RunThreadRow.notified_version,
                    RunThreadRow.message_ts != "",  # being posted
                )
                .order_by(RunThreadRow.job_id)
                .limit(limit)
            ).all()
            threads = {row.job_id: _thread(row) for row in rows}
        return [(job, threads[job.id]) for job in self.jobs.jobs(threads)]

    def claim_notice(self, job: Job) -> bool:
        """True for the one replica that shows this version of the job."""
        return self._won(
            update(RunThreadRow)
            .where(RunThreadRow.job_id == job.id, RunThreadRow.notified_version < job.version)
            .values(notified_version=job.version)
        )

    def release_notice(self, job: Job) -> None:
        """This version could not be shown after all: offer it again."""
        self._won(
            update(RunThreadRow)
            .where(RunThreadRow.job_id == job.id, RunThreadRow.notified_version == job.version)
            .values(notified_version=0)
        )

    def claim_verdict(self, job: Job) -> bool:
        """True once per final status, while the job still has it: the verdict of a lost
        job that later finishes is posted again, the same verdict never twice."""
        view = job_view()
        still = exists(
            select(view.c.id).where(view.c.id == job.id, view.c.status == job.status.value)
        )
        return self._won(
            update(RunThreadRow)
            .where(
                RunThreadRow.job_id == job.id,
                still,
                RunThreadRow.shown_status.is_(None)
                | (RunThreadRow.shown_status != job.status.value),
            )
            .values(shown_status=job.status.value)
        )

    def release_verdict(self, job: Job) -> None:
        self._won(
            update(RunThreadRow)
            .where(RunThreadRow.job_id == job.id, RunThreadRow.shown_status == job.status.value)
            .values(shown_status=None)
        )

    def logs_to_post(self, retry_after_s: float, limit: int = 20) -> list[int]:
        """Jobs whose verdict is in Slack and whose log is not, and not being posted now."""
        view = job_view()
        with self._read() as s:
            return list(
                s.scalars(
                    select(RunThreadRow.job_id)
                    .join(
                        view,
                        and_(
                            view.c.id == RunThreadRow.job_id,
                            view.c.status == RunThreadRow.shown_status,  # its verdict posted
                        ),
                    )
                    .where(
                        RunThreadRow.job_id.in_(self.jobs.undelivered_logs(retry_after_s)),
                        RunThreadRow.message_ts != "",
                    )
                    .order_by(RunThreadRow.job_id)
                    .limit(limit)
                ).all()
            )

    def _won(self, change: Update) -> bool:
        with self._write() as s:
            done = s.execute(change)
        return getattr(done, "rowcount", 0) == 1
