"""Each job's redacted server log, sent by its agent with the verdict, and the state of its
upload to the job's chat thread.

Revision ID: 0003_job_logs
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_job_logs"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runner_job_logs",
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey("runner_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("total_bytes", sa.BigInteger, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("tried_at", sa.DateTime(timezone=True)),
        sa.Column("posted_at", sa.DateTime(timezone=True)),
        sa.Column("file_id", sa.String(32)),
    )


def downgrade() -> None:
    op.drop_table("runner_job_logs")
