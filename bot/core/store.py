"""The bot's records in the shared SQLAlchemy database: answers given, feedback, learned
examples, and the Slack deliveries that need work (not runner jobs: those are the runners').
A delivery is claimed by a key (the message, the command's trigger) before the ack, so a
retry or a second delivery answers once; it stays `pending` until its answer is posted, so
work a crash or restart cut short is done again.

The schema is Alembic's (bot/migrations, its own version table, so the runners' tables can
share the database). `open_store` brings the database up to date before anything else.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.errors import StoreError
from runners import Database, connect, safe_url
from runners import migrate as migrate_schema
from runners import now as _now

VERSION_TABLE = "bot_alembic_version"
MIGRATIONS = Path(__file__).parents[1] / "migrations"
DIGEST_CHARS = 2000  # what a learned example keeps of a paste: its cause, not the whole log


class Base(DeclarativeBase):
    pass


class AnswerRow(Base):
    __tablename__ = "bot_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    team_id: Mapped[str | None] = mapped_column(String(32))
    channel_id: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    asked_by: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    verdict: Mapped[str] = mapped_column(String(16))
    top_entry_id: Mapped[str | None] = mapped_column(String(200))
    signature: Mapped[str | None] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(Text)


class FeedbackRow(Base):
    __tablename__ = "bot_feedback"
    __table_args__ = (UniqueConstraint("answer_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    answer_id: Mapped[int] = mapped_column(ForeignKey("bot_answers.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    vote: Mapped[str] = mapped_column(String(16))  # "helpful" | "not_this"
    entry_id: Mapped[str | None] = mapped_column(String(200))  # the entry the user confirmed


class ExampleRow(Base):
    __tablename__ = "bot_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("bot_feedback.id", ondelete="CASCADE"))
    entry_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    signature: Mapped[str | None] = mapped_column(Text)  # the root-cause line, if one was read


class DeliveryStatus(StrEnum):
    """Where a delivery stands, as stored: pending until its answer is posted, then done or
    failed; expired when it was too old to answer by the time a replica found it stalled."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class DeliveryRow(Base):
    __tablename__ = "bot_jobs"  # its name from before deliveries were named so

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


@dataclass(frozen=True)
class Delivery:
    """A Slack delivery that needs work: its kind and the JSON payload Slack sent."""

    key: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class AnswerRecord:
    id: int
    team_id: str | None
    channel_id: str | None
    thread_ts: str | None
    message_ts: str | None
    verdict: str
    top_entry_id: str | None
    signature: str | None
    digest: str


@dataclass(frozen=True)
class LearnedExample:
    entry_id: str
    text: str
    signature: str | None


def migrate(engine: Engine) -> None:
    migrate_schema(engine, MIGRATIONS, VERSION_TABLE)


class Store(Database):
    def claim_delivery(self, key: str, kind: str, payload: dict[str, Any]) -> bool:
        """Record a delivery under its key; False when the key was claimed before (a repeat)."""
        try:
            with self._write() as s:
                s.add(DeliveryRow(key=key[:200], kind=kind, payload=json.dumps(payload)))
        except IntegrityError:
            return False
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot record the request: {type(exc).__name__}") from exc
        return True

    def finish_delivery(self, key: str, status: DeliveryStatus = DeliveryStatus.DONE) -> None:
        """Mark a delivery done or failed; its payload (a paste, a response URL) is dropped."""
        try:
            with self._write() as s:
                s.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.key == key[:200])
                    .values(status=status.value, updated_at=_now(), payload="{}")
                )
        except SQLAlchemyError as exc:
            why = type(exc).__name__
            raise StoreError(f"cannot mark delivery {key} {status}: {why}") from exc

    def touch(self, keys: list[str]) -> None:
        """Deliveries still being worked on here: not stalled, whatever their age."""
        if keys:
            with self._write() as s:
                s.execute(
                    update(DeliveryRow)
                    .where(
                        DeliveryRow.key.in_(keys),
                        DeliveryRow.status == DeliveryStatus.PENDING.value,
                    )
                    .values(updated_at=_now())
                )

    def stalled(
        self,
        idle: timedelta = timedelta(seconds=60),
        within: timedelta = timedelta(minutes=30),
        max_attempts: int = 3,
        exclude: Collection[str] = (),
    ) -> list[Delivery]:
        """Pending deliveries nobody has touched for `idle`: their worker died. Each is handed
        to one caller only (a conditional update), so replicas never redo one twice."""
        now = _now()
        with self._write() as s:  # too old to answer now: the asker has moved on
            s.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.status == DeliveryStatus.PENDING.value,
                    DeliveryRow.created_at <= now - within,
                    DeliveryRow.key.not_in(list(exclude)),
                )
                .values(status=DeliveryStatus.EXPIRED.value, payload="{}", updated_at=now)
            )
        with self._read() as s:
            rows = s.execute(
                select(
                    DeliveryRow.key, DeliveryRow.kind, DeliveryRow.payload, DeliveryRow.updated_at
                ).where(
                    DeliveryRow.status == DeliveryStatus.PENDING.value,
                    DeliveryRow.updated_at < now - idle,
                    DeliveryRow.created_at > now - within,
                    DeliveryRow.attempts < max_attempts,
                )
            ).all()
        taken = []
        for key, kind, payload, seen in rows:
            if key in exclude:
                continue
            with self._write() as s:
                won = s.execute(
                    update(DeliveryRow)
                    .where(
                        DeliveryRow.key == key,
                        DeliveryRow.updated_at == seen,
                        DeliveryRow.status == DeliveryStatus.PENDING.value,
                    )
                    .values(updated_at=now, attempts=DeliveryRow.attempts + 1)
                )
            if getattr(won, "rowcount", 0) == 1:
                taken.append(Delivery(key, kind, json.loads(payload)))
        return taken

    def delivery_status(self, key: str) -> DeliveryStatus | None:
        with self._read() as s:
            status = s.scalar(select(DeliveryRow.status).where(DeliveryRow.key == key[:200]))
            return None if status is None else DeliveryStatus(status)

    def forget_deliveries(self, older_than: timedelta = timedelta(days=2)) -> int:
        with self._write() as s:
            gone = s.execute(
                delete(DeliveryRow).where(DeliveryRow.created_at < _now() - older_than)
            )
        return int(getattr(gone, "rowcount", 0) or 0)

    def add_answer(
        self,
        *,
        source: str,
        verdict: str,
        top_entry_id: str | None,
        signature: str | None,
        digest: str,
        team_id: str | None = None,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        asked_by: str | None = None,
    ) -> int:
        row = AnswerRow(
            source=source,
            verdict=verdict,
            top_entry_id=top_entry_id,
            signature=signature,
            digest=digest[:DIGEST_CHARS],
            team_id=team_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            asked_by=asked_by,
        )
        with self._write() as s:
            s.add(row)
            s.flush()
            return row.id

    def set_message(self, answer_id: int, channel_id: str, message_ts: str) -> None:
        with self._write() as s:
            row = s.get(AnswerRow, answer_id)
            if row is not None:
                row.channel_id, row.message_ts = channel_id, message_ts

    def answer(self, answer_id: int) -> AnswerRecord | None:
        with self._read() as s:
            row = s.get(AnswerRow, answer_id)
            if row is None:
                return None
            return AnswerRecord(
                row.id,
                row.team_id,
                row.channel_id,
                row.thread_ts,
                row.message_ts,
                row.verdict,
                row.top_entry_id,
                row.signature,
                row.digest,
            )

    def record_feedback(
        self, answer_id: int, user_id: str, vote: str, entry_id: str | None
    ) -> None:
        """One vote per user and answer: a later one replaces it (and its learned example)."""
        try:
            self._record_feedback(answer_id, user_id, vote, entry_id)
        except (IntegrityError, OperationalError):
            # Two clicks at once: the loser sees the winner's row now, so once more is enough.
            try:
                self._record_feedback(answer_id, user_id, vote, entry_id)
            except (IntegrityError, OperationalError) as exc:
                raise StoreError(f"could not store the feedback: {exc.orig}") from exc

    def _record_feedback(
        self, answer_id: int, user_id: str, vote: str, entry_id: str | None
    ) -> None:
        with self._write() as s:
            answer = s.get(AnswerRow, answer_id)
            if answer is None:
                raise StoreError(f"answer {answer_id} is not in the database")
            old = s.scalar(
                select(FeedbackRow).where(
                    FeedbackRow.answer_id == answer_id, FeedbackRow.user_id == user_id
                )
            )
            if old is not None:
                s.execute(delete(ExampleRow).where(ExampleRow.feedback_id == old.id))
                s.delete(old)
                s.flush()
            feedback = FeedbackRow(
                answer_id=answer_id, user_id=user_id, vote=vote, entry_id=entry_id
            )
            s.add(feedback)
            s.flush()
            if (
                vote == "not_this" and entry_id is not None
            ):  # a correction teaches; a thumbs-up does not
                s.add(
                    ExampleRow(
                        feedback_id=feedback.id,
                        entry_id=entry_id,
                        text=answer.digest,
                        signature=answer.signature,
                    )
                )

    def examples(self) -> list[LearnedExample]:
        with self._read() as s:
            rows = s.execute(
                select(ExampleRow.entry_id, ExampleRow.text, ExampleRow.signature).order_by(
                    ExampleRow.id
                )
            )
            return [LearnedExample(entry_id, text, sig) for entry_id, text, sig in rows]

    def examples_version(self) -> tuple[int, int]:
        """Changes whenever an example is added or removed: cheap to ask before each triage."""
        with self._read() as s:
            count, last = s.execute(
                select(func.count(ExampleRow.id), func.max(ExampleRow.id))
            ).one()
            return int(count), int(last or 0)

    def feedback_counts(self) -> dict[str, int]:
        with self._read() as s:
            rows = s.execute(select(FeedbackRow.vote, func.count()).group_by(FeedbackRow.vote))
            return {vote: int(n) for vote, n in rows}


def open_store(url: str) -> Store:
    """Connect and bring the schema up to date; errors name the database, never its password."""
    try:
        engine = connect(url)
        migrate(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot open the database {safe_url(url)}: {exc}") from exc
    return Store(engine)
