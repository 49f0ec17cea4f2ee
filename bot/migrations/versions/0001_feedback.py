"""Answers, feedback, learned examples, and the jobs Slack deliveries start.

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
        "bot_answers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team_id", sa.String(32)),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("asked_by", sa.String(32)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("top_entry_id", sa.String(200)),
        sa.Column("signature", sa.Text),
        sa.Column("digest", sa.Text, nullable=False),
    )
    op.create_table(
        "bot_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "answer_id",
            sa.Integer,
            sa.ForeignKey("bot_answers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("vote", sa.String(16), nullable=False),
        sa.Column("entry_id", sa.String(200)),
        sa.UniqueConstraint("answer_id", "user_id"),
    )
    op.create_table(
        "bot_examples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "feedback_id",
            sa.Integer,
            sa.ForeignKey("bot_feedback.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("entry_id", sa.String(200), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("signature", sa.Text),
    )
    op.create_table(
        "bot_jobs",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("bot_jobs_status_updated", "bot_jobs", ["status", "updated_at"])
    op.create_index("bot_jobs_created", "bot_jobs", ["created_at"])


def downgrade() -> None:
    op.drop_index("bot_jobs_created", "bot_jobs")
    op.drop_index("bot_jobs_status_updated", "bot_jobs")
    op.drop_table("bot_jobs")
    op.drop_table("bot_examples")
    op.drop_table("bot_feedback")
    op.drop_table("bot_answers")
