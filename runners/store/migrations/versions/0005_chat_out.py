"""Chat out of the runners' tables: a job keeps one opaque `origin` (where it was asked
for, as its submitter wrote it) in place of the chat columns, and the dispatch audit's
`channel_id` becomes `origin`. The bot keeps what each job's thread was shown in a table
of its own (bot migration 0003).

Nothing in flight is lost whichever tree migrates first. The bot's 0003 copies the chat
columns while they are here; for a database whose runners' tables were migrated first (a
coordinator or `jobs` started before the bot), the values are packed into `origin` here,
under the names the bot's 0003 reads, so it finds them there.

The columns have no index or constraint, so they are dropped in place (SQLite 3.35+): a
batch copy of runner_jobs would drop the old table under `PRAGMA foreign_keys=ON`, and its
ON DELETE CASCADE would empty runner_events, runner_job_labels and runner_job_logs.

Revision ID: 0005_chat_out
Revises: 0004_replies
Create Date: 2026-12-07
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0005_chat_out"
down_revision = "0004_replies"
branch_labels = None
depends_on = None

# Old column -> its key in the packed origin (what the bot's migration 0003 reads).
PACKED = {
    "team_id": "team",
    "channel_id": "channel",
    "thread_ts": "thread",
    "message_ts": "message",
    "notified_version": "notified",
    "shown_status": "shown",
}


def upgrade() -> None:
    op.add_column("runner_jobs", sa.Column("origin", sa.Text))
    jobs = sa.table("runner_jobs", sa.column("id"), sa.column("origin"), *map(sa.column, PACKED))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(jobs).where(jobs.c.channel_id.is_not(None))  # jobs asked for in chat
    ).mappings()
    for row in list(rows):
        packed = {key: row[column] for column, key in PACKED.items()}
        connection.execute(
            jobs.update().where(jobs.c.id == row["id"]).values(origin=json.dumps(packed))
        )
    for column in PACKED:
        op.drop_column("runner_jobs", column)
    op.alter_column("runner_dispatches", "channel_id", new_column_name="origin")


def downgrade() -> None:
    op.alter_column("runner_dispatches", "origin", new_column_name="channel_id")
    for column in ("team_id", "channel_id", "thread_ts", "message_ts"):
        op.add_column("runner_jobs", sa.Column(column, sa.String(32)))
    op.add_column(
        "runner_jobs",
        sa.Column("notified_version", sa.Integer, nullable=False, server_default="0"),
    )
    op.add_column("runner_jobs", sa.Column("shown_status", sa.String(16)))
    op.drop_column("runner_jobs", "origin")
