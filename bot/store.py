"""The bot's records in the shared SQLAlchemy database: answers given, feedback, learned
examples, and the keys of Slack deliveries already handled (so a retry answers once).

The schema is Alembic's (bot/migrations, its own version table, so the runners' tables can
share the database). `open_store` brings the database up to date before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from bot.errors import StoreError

VERSION_TABLE = "bot_alembic_version"
MIGRATIONS = Path(__file__).parent / "migrations"
DIGEST_CHARS = 2000  # what a learned example keeps of a paste: its cause, not the whole log


def _now() -> datetime:
    return datetime.now(UTC)


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


class HandledRow(Base):
    __tablename__ = "bot_handled"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


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


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def first_time(self, key: str) -> bool:
        """Claim a Slack delivery key; False when it was claimed before (a retry or duplicate)."""
        try:
            with self._session.begin() as s:
                s.add(HandledRow(key=key[:200]))
        except IntegrityError:
            return False
        return True

    def forget_handled(self, older_than: timedelta = timedelta(days=2)) -> int:
        with self._session.begin() as s:
            gone = s.execute(delete(HandledRow).where(HandledRow.created_at < _now() - older_than))
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
        with self._session.begin() as s:
            s.add(row)
            s.flush()
            return row.id

    def set_message(self, answer_id: int, channel_id: str, message_ts: str) -> None:
        with self._session.begin() as s:
            row = s.get(AnswerRow, answer_id)
            if row is not None:
                row.channel_id, row.message_ts = channel_id, message_ts

    def answer(self, answer_id: int) -> AnswerRecord | None:
        with self._session() as s:
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
        with self._session.begin() as s:
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
            if entry_id is not None:
                s.add(ExampleRow(feedback_id=feedback.id, entry_id=entry_id, text=answer.digest))

    def examples(self) -> list[LearnedExample]:
        with self._session() as s:
            rows = s.execute(select(ExampleRow.entry_id, ExampleRow.text).order_by(ExampleRow.id))
            return [LearnedExample(entry_id, text) for entry_id, text in rows]

    def examples_version(self) -> tuple[int, int]:
        """Changes whenever an example is added or removed: cheap to ask before each triage."""
        with self._session() as s:
            count, last = s.execute(
                select(func.count(ExampleRow.id), func.max(ExampleRow.id))
            ).one()
            return int(count), int(last or 0)

    def feedback_counts(self) -> dict[str, int]:
        with self._session() as s:
            rows = s.execute(select(FeedbackRow.vote, func.count()).group_by(FeedbackRow.vote))
            return {vote: int(n) for vote, n in rows}


def open_store(url: str) -> Store:
    """Connect and bring the schema up to date; errors name the database, never its password."""
    try:
        engine = _engine(url)
        migrate(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot open the database {_safe_url(url)}: {exc}") from exc
    return Store(engine)
