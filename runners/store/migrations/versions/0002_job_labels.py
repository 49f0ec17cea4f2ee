"""Job labels in a table of their own, matched in SQL when an agent leases; agents made
without `--label` keep the labels they had claimed (less other agents' names and words
that are not labels), now as the labels they were given.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# runners.store.agents.LABEL as it was when this revision was written.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def upgrade() -> None:
    op.create_table(
        "runner_job_labels",
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey("runner_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(64), primary_key=True),
    )
    bind = op.get_bind()
    jobs = sa.table("runner_jobs", sa.column("id"), sa.column("labels"), sa.column("status"))
    job_labels = sa.table("runner_job_labels", sa.column("job_id"), sa.column("label"))
    # Only jobs that may still be leased: queued ones, and running ones that may go back.
    rows = bind.execute(
        sa.select(jobs.c.id, jobs.c.labels).where(jobs.c.status.in_(["queued", "running"]))
    ).all()
    wanted = [
        {"job_id": job_id, "label": label}
        for job_id, labels in rows
        for label in set(json.loads(labels or "[]"))
    ]
    if wanted:
        bind.execute(job_labels.insert(), wanted)

    agents = sa.table(
        "runner_agents",
        sa.column("id"),
        sa.column("name"),
        sa.column("labels"),
        sa.column("allowed_labels"),
    )
    everyone = bind.execute(sa.select(agents.c.id, agents.c.name, agents.c.labels)).all()
    names = {name for _, name, _ in everyone}
    unset = bind.execute(sa.select(agents.c.id).where(agents.c.allowed_labels.is_(None)))
    for (agent_id,) in unset.all():
        name, claimed = next((n, c) for i, n, c in everyone if i == agent_id)
        kept = sorted(
            label
            for label in set(json.loads(claimed or "[]"))
            if _LABEL.fullmatch(label) and label not in names - {name}
        )
        bind.execute(
            agents.update().where(agents.c.id == agent_id).values(allowed_labels=json.dumps(kept))
        )


def downgrade() -> None:
    op.drop_table("runner_job_labels")
