"""One SQLAlchemy engine per database URL, shared by the bot's and the runners' stores:
SQLite (one machine, the default) tuned for a writer and many readers, PostgreSQL pooled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker


def safe_url(url: str) -> str:
    """The URL to show people: never its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL; see ONCALL_DATABASE_URL)"


def connect(url: str) -> Engine:
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
            cursor.execute("PRAGMA synchronous=NORMAL")  # WAL stays consistent; no fsync per commit
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def now() -> datetime:
    return datetime.now(UTC)


def migrate(engine: Engine, scripts: Path, version_table: str) -> None:
    """Bring one package's tables up to date; each package keeps its own version table,
    so the bot's and the runners' migrations share one database without meeting."""
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("version_table", version_table)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def run_migrations(metadata: MetaData, version_table: str) -> None:
    """The body of a package's Alembic env.py (always run from `migrate`)."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=version_table,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


class Database:
    """Sessions over a shared engine. SQLite takes one writer at a time and makes the
    others sleep and retry, with back-offs up to 100 ms; queueing our own writers on a
    lock wakes each at once. `_write` and `_read` are for the stores built on it (a
    subclass, or the JobStore's parts, which share one), not for their callers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        sqlite = engine.dialect.name == "sqlite"
        self._one_writer: AbstractContextManager[object] = (
            threading.Lock() if sqlite else nullcontext()
        )

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._one_writer, self._sessions.begin() as session:
            yield session

    def _read(self) -> Session:
        return self._sessions()
