"""The runners' tables (SQLAlchemy) and their Alembic migrations, with a version table of
their own so they share one database with the bot's."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from runners.states import Phase, Status
from runners.store import database
from runners.store.database import now

VERSION_TABLE = "runner_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


class AgentRow(Base):
    __tablename__ = "runner_agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    labels: Mapped[str] = mapped_column(Text, default="[]")
    # Labels the admin gave it (`add-agent --label`): it may claim no others but its name.
    allowed_labels: Mapped[str | None] = mapped_column(Text)
    hostname: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[str | None] = mapped_column(String(64))
    slots: Mapped[int] = mapped_column(Integer, default=1)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class JobRow(Base):
    __tablename__ = "runner_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    spec: Mapped[str] = mapped_column(Text)
    labels: Mapped[str] = mapped_column(Text, default="[]")
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED.value, index=True)
    phase: Mapped[str] = mapped_column(String(32), default=Phase.QUEUED.value)
    stage: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("runner_agents.id"))
    lease_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str | None] = mapped_column(Text)
    log_tail: Mapped[str] = mapped_column(Text, default="[]")
    requested_by: Mapped[str | None] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(Integer)
    # Where the job was asked for, as its submitter wrote it (the bot: whom to tell). Kept
    # with the job in one insert, so a submitter that dies next finds it again; never read.
    origin: Mapped[str | None] = mapped_column(Text)
    # One job per request: a second click on the same button finds the first job.
    request_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Bumped by every change: a reader that keeps the version it last showed sees news.
    version: Mapped[int] = mapped_column(Integer, default=1)


class JobLabelRow(Base):
    """A job's labels, one a row, so the lease query matches them in SQL: jobs no agent
    serves never hide the ones behind them."""

    __tablename__ = "runner_job_labels"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("runner_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(64), primary_key=True)


class EventRow(Base):
    __tablename__ = "runner_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("runner_jobs.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    kind: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")


class DispatchRow(Base):
    __tablename__ = "runner_dispatches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    user_id: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(32))  # where it was asked, if said
    source: Mapped[str] = mapped_column(String(16))
    command: Mapped[str] = mapped_column(Text)
    allowed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[int | None] = mapped_column(Integer)


class JobLogRow(Base):
    """A job's redacted server log, as its agent sent it (cut to the cap), and its delivery
    to whoever asked for the job: claimed by one replica at a time, done once."""

    __tablename__ = "runner_job_logs"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("runner_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    text: Mapped[str] = mapped_column(Text)
    total_bytes: Mapped[int] = mapped_column(BigInteger)  # the log's size on its host
    tries: Mapped[int] = mapped_column(Integer, default=0)
    tried_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    file_id: Mapped[str | None] = mapped_column(String(32))


def migrate(engine: Engine) -> None:
    database.migrate(engine, MIGRATIONS, VERSION_TABLE)
