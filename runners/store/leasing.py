"""Which queued job an agent takes, decided in SQL. The oldest job whose labels the agent
all has is found by the database (jobs no agent serves never hide the ones behind them),
and taken by one conditional UPDATE that also holds the agent to its free slots and to
not being revoked: racing lease calls, replicas and a revoke cannot get past it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from runners.errors import AuthError
from runners.states import Phase, Status, advance
from runners.store.agents import Agent
from runners.store.tables import AgentRow, JobLabelRow, JobRow

REVOKED = "unknown or revoked agent token"


def free_slots(s: Session, agent: Agent) -> int:
    """Slots the agent has free now (a hint: `take` decides). A revoked agent is refused."""
    row = s.execute(
        select(AgentRow.slots, AgentRow.disabled).where(AgentRow.id == agent.id)
    ).one_or_none()
    if row is None or row.disabled:
        raise AuthError(REVOKED)
    busy = s.scalar(
        select(func.count())
        .select_from(JobRow)
        .where(JobRow.agent_id == agent.id, JobRow.status == Status.RUNNING.value)
    )
    return int(row.slots) - int(busy or 0)


def next_queued(s: Session, serves: Collection[str], after: int = 0) -> int | None:
    """The oldest queued job after `after` that has no label outside `serves`."""
    foreign = select(JobLabelRow.job_id).where(
        JobLabelRow.job_id == JobRow.id, JobLabelRow.label.not_in(sorted(serves))
    )
    return s.scalar(
        select(JobRow.id)
        .where(JobRow.status == Status.QUEUED.value, JobRow.id > after, ~foreign.exists())
        .order_by(JobRow.id)
        .limit(1)
    )


def take(s: Session, agent: Agent, job_id: int, now: datetime, lease_for: timedelta) -> bool:
    """Lease `job_id` to `agent` if it is still queued and the agent has a free slot; False
    if another agent took it first or the slots are full. A revoked agent is refused."""
    # The agent's row first: PostgreSQL locks it to the commit and SQLite takes its one
    # write lock here, so this agent's other lease calls wait, and the busy count below
    # is read after theirs committed, never before.
    alive = s.execute(
        update(AgentRow)
        .where(AgentRow.id == agent.id, AgentRow.disabled.is_(False))
        .values(last_seen=now)
    )
    if getattr(alive, "rowcount", 0) != 1:
        raise AuthError(REVOKED)
    busy = aliased(JobRow)
    running = (
        select(func.count())
        .select_from(busy)
        .where(busy.agent_id == agent.id, busy.status == Status.RUNNING.value)
        .scalar_subquery()
    )
    # NULL for a revoked agent, and no count is below NULL: it takes nothing.
    slots = (
        select(AgentRow.slots)
        .where(AgentRow.id == agent.id, AgentRow.disabled.is_(False))
        .scalar_subquery()
    )
    won = s.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.status == Status.QUEUED.value, running < slots)
        .values(
            status=advance(Status.QUEUED, Status.RUNNING).value,
            agent_id=agent.id,
            lease_expires=now + lease_for,
            leased_at=now,
            phase=advance(Phase.QUEUED, Phase.PREFLIGHT).value,
            updated_at=now,
            version=JobRow.version + 1,
        )
    )
    return getattr(won, "rowcount", 0) == 1
