"""Where each runner job is shown in Slack and what it was shown, in the bot's own table
(was columns of runner_jobs: the runners now keep only an opaque `origin`).

Existing jobs are copied from runner_jobs when that table exists: from its chat columns
while the runners' tables are at their old head (the bot migrates first: `serve` opens
the bot's store before the runners'), else from the `origin` into which the runners'
migration 0005 packed them (a coordinator or `jobs` command migrated first). Jobs whose
status message was never posted are left to the reporter, which finds them by `origin`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# runner_jobs' old chat columns -> the names the runners' migration 0005 packs them under
# in `origin` (when the runners' tables migrated first).
PACKED = {
    "team_id": "team",
    "channel_id": "channel",
    "thread_ts": "thread",
    "message_ts": "message",
    "notified_version": "notified",
    "shown_status": "shown",
}


def upgrade() -> None:
    threads = op.create_table(
        "bot_run_threads",
        sa.Column("job_id", sa.Integer, primary_key=True),
        sa.Column("team_id", sa.String(32)),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("message_ts", sa.String(32), nullable=False),
        sa.Column("notified_version", sa.Integer, nullable=False),
        sa.Column("shown_status", sa.String(16)),
    )
    rows = list(_posted(op.get_bind()))
    if rows:
        op.bulk_insert(threads, rows)


def _posted(connection: sa.Connection) -> Iterator[dict[str, Any]]:
    """The runner jobs whose status message was posted (or claimed), as rows of ours."""
    inspector = sa.inspect(connection)
    if not inspector.has_table("runner_jobs"):
        return  # a new database: the runners' tables come after ours
    columns = {c["name"] for c in inspector.get_columns("runner_jobs")}
    if set(PACKED) <= columns:
        jobs = sa.table("runner_jobs", sa.column("id"), *map(sa.column, PACKED))
        for row in connection.execute(sa.select(jobs)).mappings():
            yield from _row(row["id"], {column: row[column] for column in PACKED})
    elif "origin" in columns:
        jobs = sa.table("runner_jobs", sa.column("id"), sa.column("origin"))
        found = connection.execute(sa.select(jobs).where(jobs.c.origin.is_not(None)))
        for job_id, origin in found:
            try:
                packed = json.loads(origin)
            except ValueError:
                continue
            if isinstance(packed, dict):
                yield from _row(job_id, {column: packed.get(key) for column, key in PACKED.items()})


def _row(job_id: int, old: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if old["channel_id"] is None or old["message_ts"] is None:
        return  # not from Slack, or never posted (the reporter posts it)
    yield {
        "job_id": job_id,
        "team_id": old["team_id"],
        "channel_id": old["channel_id"],
        "thread_ts": old["thread_ts"],
        "message_ts": old["message_ts"],
        "notified_version": int(old["notified_version"] or 0),
        "shown_status": old["shown_status"],
    }


def downgrade() -> None:
    op.drop_table("bot_run_threads")
