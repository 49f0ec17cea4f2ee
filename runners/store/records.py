"""A runner job as the rest of the code sees it: a frozen value read from its row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from runners.run.result import RunResult
from runners.spec.job import JobSpec
from runners.states import Phase, Status
from runners.store.agents import aware
from runners.store.tables import AgentRow, JobRow


@dataclass(frozen=True)
class Job:
    id: int
    spec: JobSpec
    status: Status
    phase: Phase  # where it is now, as last heard from its agent
    stage: str | None
    agent: str | None
    cancel_requested: bool
    result: RunResult | None
    log_tail: tuple[str, ...]
    requested_by: str | None
    parent_id: int | None
    origin: str | None  # its submitter's note of where it was asked for (runners.store.tables)
    version: int
    created_at: datetime
    updated_at: datetime
    repeat: bool = False  # submit() found this job queued by the same request before

    @property
    def reached(self) -> Phase:
        """The phase the run got to: its result's once it has one (where it failed, not
        the stopping and cleanup after), else where it is now."""
        return self.result.phase if self.result else self.phase


def job_record(s: Session, row: JobRow) -> Job:
    agent = s.get(AgentRow, row.agent_id) if row.agent_id else None
    return Job(
        id=row.id,
        spec=JobSpec.model_validate_json(row.spec),
        status=Status(row.status),
        phase=Phase(row.phase),
        stage=row.stage,
        agent=agent.name if agent else None,
        cancel_requested=row.cancel_requested,
        result=RunResult.model_validate_json(row.result) if row.result else None,
        log_tail=tuple(json.loads(row.log_tail)),
        requested_by=row.requested_by,
        parent_id=row.parent_id,
        origin=row.origin,
        version=row.version,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )
