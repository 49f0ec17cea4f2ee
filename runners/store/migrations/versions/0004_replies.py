"""Reply sets: each checkpoint's known-good deterministic replies (`--record-golden`) and
the latest replies of each mode and config, for graph vs eager.

Revision ID: 0004_replies
Revises: 0003_job_logs
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_replies"
down_revision = "0003_job_logs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runner_replies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("revision", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("config_key", sa.String(32), nullable=False),
        sa.Column("job_id", sa.Integer, nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_runner_replies_key", "runner_replies", ["model", "revision", "kind"])


def downgrade() -> None:
    op.drop_index("ix_runner_replies_key", "runner_replies")
    op.drop_table("runner_replies")
