"""Agents and their hashed tokens, runner jobs, their events, and the dispatch audit.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runner_agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("allowed_labels", sa.Text),
        sa.Column("hostname", sa.String(255)),
        sa.Column("version", sa.String(64)),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True)),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "runner_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(64)),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("runner_agents.id")),
        sa.Column("lease_expires", sa.DateTime(timezone=True)),
        sa.Column("leased_at", sa.DateTime(timezone=True)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("log_tail", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(64)),
        sa.Column("parent_id", sa.Integer),
        sa.Column("team_id", sa.String(32)),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("request_key", sa.String(200), unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("notified_version", sa.Integer, nullable=False),
        sa.Column("shown_status", sa.String(16)),
    )
    op.create_table(
        "runner_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey("runner_jobs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(64)),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "runner_dispatches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("allowed", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("job_id", sa.Integer),
    )


def downgrade() -> None:
    for table in ("runner_dispatches", "runner_events", "runner_jobs", "runner_agents"):
        op.drop_table(table)
