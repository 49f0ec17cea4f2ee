"""Jobs into the queue and out of it before they run: submitted once per request, and
cancelled (at once while queued; a running one is asked to stop on its host)."""

from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from runners.run.result import EventKind, RunResult
from runners.spec.job import JobSpec, check_labels
from runners.states import Phase, Status, advance
from runners.store.database import Database
from runners.store.database import now as _now
from runners.store.records import Job, job_record
from runners.store.tables import EventRow, JobLabelRow, JobRow


class JobQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    def submit(
        self,
        spec: JobSpec,
        *,
        requested_by: str | None = None,
        origin: str | None = None,
        parent_id: int | None = None,
        request_key: str | None = None,
    ) -> Job:
        """Queue `spec`. With a `request_key` seen before, the job queued then is returned
        (`Job.repeat` is True) and nothing new is queued. `origin`: where it was asked
        for, in the submitter's own words (kept with the job, never read here)."""
        if request_key is not None:
            with self._db._read() as s:
                row = s.scalar(select(JobRow).where(JobRow.request_key == request_key[:200]))
                if row is not None:
                    return replace(job_record(s, row), repeat=True)
        try:
            return self._submit(spec, requested_by, origin, parent_id, request_key)
        except IntegrityError:  # the same request at the same moment: the other one won
            with self._db._read() as s:
                row = s.scalar(
                    select(JobRow).where(JobRow.request_key == (request_key or "")[:200])
                )
                if row is None:
                    raise
                return replace(job_record(s, row), repeat=True)

    def _submit(
        self,
        spec: JobSpec,
        requested_by: str | None,
        origin: str | None,
        parent_id: int | None,
        request_key: str | None,
    ) -> Job:
        labels = check_labels(spec.labels)  # each a table row, matched in SQL when leasing
        with self._db._write() as s:
            row = JobRow(
                request_key=request_key[:200] if request_key else None,
                spec=spec.model_dump_json(),
                labels=json.dumps(list(labels)),
                requested_by=requested_by,
                origin=origin,
                parent_id=parent_id,
            )
            s.add(row)
            s.flush()
            s.add_all(JobLabelRow(job_id=row.id, label=label) for label in set(labels))
            queued = EventRow(
                job_id=row.id,
                kind=EventKind.PHASE.value,
                phase=Phase.QUEUED.value,
                message=spec.describe(),
            )
            s.add(queued)
            return job_record(s, row)

    def cancel(self, job_id: int, by: str | None) -> Job | None:
        """A queued job is cancelled at once; a running one is asked to stop on its host."""
        with self._db._write() as s:
            row = s.get(JobRow, job_id, with_for_update=True)
            if row is None:
                return None
            status = Status(row.status)
            if status is Status.QUEUED:
                row.status = advance(status, Status.CANCELLED).value
                row.phase = advance(Phase(row.phase), Phase.DONE).value
                row.result = RunResult(
                    playbook=JobSpec.model_validate_json(row.spec).playbook,
                    status=Status.CANCELLED,
                    phase=Phase.QUEUED,
                    verdict=f"cancelled before it started{f' by {by}' if by else ''}",
                ).model_dump_json()
            elif status is Status.RUNNING:
                row.cancel_requested = True
            else:
                return job_record(s, row)
            s.add(
                EventRow(
                    job_id=job_id,
                    kind=EventKind.NOTE.value,
                    phase=row.phase,
                    message=f"cancel requested by {by or 'someone'}",
                )
            )
            row.version += 1
            row.updated_at = _now()
            s.flush()
            return job_record(s, row)
