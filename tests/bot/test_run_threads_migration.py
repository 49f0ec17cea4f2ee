"""Chat out of the runners' tables (runners 0005, bot 0003) on a database in use: jobs in
flight keep their Slack thread, status message and what it showed, whichever tree
migrates first (`serve` opens the bot's store first; a coordinator or `jobs` command
alone migrates the runners' tables first), on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from bot.core import store as bot_store
from bot.core.store import open_store
from bot.slack.threads import RunThreads
from runners import JobSpec, connect, open_jobs
from runners.store import tables as runner_tables
from tests.databases import KINDS, database

RUNNERS_OLD_HEAD, BOT_OLD_HEAD = "0004_replies", "0002"
AGO = datetime.now(UTC) - timedelta(minutes=1)


def _upgrade(engine: Engine, scripts: Path, version_table: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("version_table", version_table)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _job(c: sa.Connection, job_id: int, status: str, version: int, **chat: object) -> None:
    names = ("id", "spec", *_OLD, *(name for name in chat if name not in _OLD))
    jobs = sa.table("runner_jobs", *map(sa.column, names))
    old = {
        "created_at": AGO, "updated_at": AGO, "labels": '["a2"]', "status": status,
        "phase": {"running": "starting", "queued": "queued"}.get(status, "done"), "cancel_requested": False,
        "log_tail": "[]", "version": version, "notified_version": 0,
    }  # fmt: skip
    spec = JobSpec(playbook="smoke", model="org/m", labels=("a2",)).model_dump_json()
    c.execute(jobs.insert().values(id=job_id, spec=spec, **{**old, **chat}))
    c.execute(sa.text("INSERT INTO runner_job_labels VALUES (:j, 'a2')"), {"j": job_id})
    c.execute(
        sa.text(
            "INSERT INTO runner_events (job_id, at, kind, phase, message)"
            " VALUES (:j, :at, 'note', 'queued', 'leased by npu')"
        ),
        {"j": job_id, "at": AGO},
    )


_OLD = (
    "created_at", "updated_at", "labels", "status", "phase", "cancel_requested", "log_tail",
    "version", "notified_version",
)  # fmt: skip


@pytest.fixture(params=KINDS)
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at the old heads with jobs in flight: posted and shown (1), asked for
    in Slack but never posted (2), from the CLI (3), its message being posted (4)."""
    with database(request.param, tmp_path) as url:
        engine = connect(url)
        _upgrade(engine, bot_store.MIGRATIONS, bot_store.VERSION_TABLE, BOT_OLD_HEAD)
        _upgrade(engine, runner_tables.MIGRATIONS, runner_tables.VERSION_TABLE, RUNNERS_OLD_HEAD)
        with engine.begin() as c:
            _job(
                c, 1, "passed", 4, team_id="T1", channel_id="C1", thread_ts="1.1",
                message_ts="2.2", notified_version=3, shown_status="passed",
            )  # fmt: skip
            _job(c, 2, "queued", 1, team_id="T1", channel_id="C2")
            _job(c, 3, "running", 2)
            _job(c, 4, "queued", 1, channel_id="C4", message_ts="")
            c.execute(
                sa.text(
                    "INSERT INTO runner_job_logs (job_id, at, text, total_bytes, tries)"
                    " VALUES (1, :at, 'INFO ready', 10, 0)"
                ),
                {"at": AGO},
            )
            c.execute(
                sa.text(
                    "INSERT INTO runner_dispatches (at, user_id, channel_id, source, command,"
                    " allowed, reason) VALUES (:at, 'U1', 'C1', 'slash', '/smoke org/m', true, '')"
                ),
                {"at": AGO},
            )
        engine.dispose()
        yield url


@pytest.mark.parametrize("bot_first", [True, False], ids=["bot-first", "runners-first"])
def test_jobs_in_flight_keep_their_threads_whichever_tree_migrates_first(
    old_database: str, bot_first: bool
) -> None:
    if bot_first:  # `serve`
        bot = open_store(old_database)
        jobs = open_jobs(old_database)
    else:  # a coordinator or `ascend-oncall jobs` started before the bot
        jobs = open_jobs(old_database)
        bot = open_store(old_database)
    try:
        threads = RunThreads(jobs)
        posted = threads.thread(1)
        assert posted is not None
        assert (posted.channel_id, posted.thread_ts, posted.message_ts, posted.team_id) == (
            "C1", "1.1", "2.2", "T1",
        )  # fmt: skip
        being_posted = threads.thread(4)
        assert being_posted is not None and being_posted.message_ts == ""
        assert threads.thread(2) is None and threads.thread(3) is None

        # What was shown stays shown: version 4 is news, the "passed" verdict is not.
        ((changed, where),) = threads.changed()
        assert changed.id == 1 and where == posted
        assert not threads.claim_verdict(changed), "its verdict was posted before"
        assert threads.logs_to_post(60) == [1], "its log follows the verdict shown"
        # Never posted: the reporter finds it by its origin and posts it now.
        (unposted,) = threads.unposted(older_than_s=15)
        claimed = threads.claim_post(unposted)
        assert unposted.id == 2 and claimed is not None
        assert (claimed.channel_id, claimed.thread_ts, claimed.team_id) == ("C2", None, "T1")
        assert jobs.job(3).origin is None  # type: ignore[union-attr]

        # Nothing of the runners' own went with the columns (no cascade from a table copy).
        assert [len(jobs.events(n)) for n in (1, 2, 3, 4)] == [1, 1, 1, 1]
        kept = jobs.log(1)
        assert kept is not None and kept.text == "INFO ready"
        assert jobs.recent(limit=10)[-1].spec.labels == ("a2",)
        assert jobs.dispatches()[0]["origin"] == "C1"
        with jobs.engine.connect() as c:
            columns = {col["name"] for col in sa.inspect(c).get_columns("runner_jobs")}
        assert not columns & {"channel_id", "thread_ts", "message_ts", "team_id"}
        assert not columns & {"notified_version", "shown_status"}
    finally:
        jobs.engine.dispose()
        bot.engine.dispose()


@pytest.mark.parametrize("bot_first", [True, False], ids=["bot-first", "runners-first"])
def test_a_new_database_migrates_either_way(tmp_path: Path, bot_first: bool) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    bot = open_store(url) if bot_first else None
    jobs = open_jobs(url)
    bot = bot or open_store(url)
    threads = RunThreads(jobs)
    assert threads.changed() == [] and threads.unposted() == []
    jobs.engine.dispose()
    bot.engine.dispose()
