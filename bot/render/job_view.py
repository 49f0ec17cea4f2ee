"""A runner job for the shell (`ascend-oncall jobs list|show`): one JSON object, or lines
and a table for people. The same facts the Slack status message and verdict give: the
verdict's lines are `bot.render.run_text`'s, drawn from `bot.core.run_layout`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table
from rich.text import Text

from bot.core.run_layout import job_parts
from bot.render.run_text import verdict_lines
from runners import RunTriage, redact, redact_data

if TYPE_CHECKING:  # the job store's names load SQLAlchemy: not for every CLI start
    from runners import Job, JobLog


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 1) if start and end else None


def runbook_match(triage: RunTriage | None) -> dict[str, Any] | None:
    top = triage.top if triage else None
    if triage is None or top is None:
        return None
    return {
        "verdict": triage.verdict,
        "entry_id": top.entry_id,
        "title": top.title,
        "confidence": top.confidence,
        "actions": list(top.actions),
    }


def job_json(
    job: Job,
    started: datetime | None = None,
    log: JobLog | None = None,
    triage: RunTriage | None = None,
) -> dict[str, Any]:
    """`jobs show --json`: spec, status, phase, verdict, runbook match, timings."""
    result = job.result
    finished = job.updated_at if job.status.final else None
    view: dict[str, Any] = {
        "id": job.id,
        "status": job.status.value,
        "phase": job.reached,
        "stage": job.stage,
        "command": job.spec.describe(),
        "spec": job.spec.model_dump(mode="json"),
        "agent": job.agent,
        "requested_by": job.requested_by,
        "parent_id": job.parent_id,
        "cancel_requested": job.cancel_requested,
        "verdict": result.verdict if result else None,
        "first_error": result.first_error.model_dump() if result and result.first_error else None,
        "runbook": runbook_match(triage or (result.triage if result else None)),
        "next": result.next.model_dump() if result and result.next else None,
        "timings": {
            "created_at": job.created_at.isoformat(),
            "started_at": started.isoformat() if started else None,
            "finished_at": finished.isoformat() if finished else None,
            "queued_s": _seconds(job.created_at, started),
            "run_s": _seconds(started, finished),
            "ready_s": result.ready_s if result else None,
            "phases": dict(result.timings) if result else {},
        },
        "log": (
            {"bytes": len(log.text.encode()), "total_bytes": log.total_bytes, "cut": log.cut}
            if log
            else None
        ),
    }
    cleaned: dict[str, Any] = redact_data(view)
    return cleaned


def job_lines(
    job: Job,
    started: datetime | None = None,
    log: JobLog | None = None,
    triage: RunTriage | None = None,
) -> list[Text]:
    """The same job as `job_json`, as lines for people: who and where, the verdict as the
    Slack thread and `run` give it (bot.core.run_layout), then its times and its log."""
    finished = job.updated_at if job.status.final else None
    lines = [
        Text(f"job {job.id}: {job.status.value} ({job.reached})  {redact(job.spec.describe())}"),
        Text(f"agent: {job.agent or '-'}   asked by: {redact(job.requested_by or '-')}"),
    ]
    if job.result is not None or job.status.final:
        lines += verdict_lines(job_parts(job, triage))
    when = [f"queued {job.created_at.isoformat()}"]
    if (waited := _seconds(job.created_at, started)) is not None:
        when.append(f"waited {waited} s")
    if (ran := _seconds(started, finished)) is not None:
        when.append(f"ran {ran} s")
    lines.append(Text("timings: " + ", ".join(when)))
    if log is not None:
        cut = f", cut from {log.total_bytes:,}" if log.cut else ""
        size = len(log.text.encode())
        lines.append(Text(f"log: {size:,} bytes{cut} (`ascend-oncall jobs log {job.id}`)"))
    return lines


def list_json(job: Job) -> dict[str, Any]:
    """One job in `jobs list --json`."""
    view = {
        "id": job.id,
        "status": job.status.value,
        "phase": job.reached,
        "command": job.spec.describe(),
        "agent": job.agent,
        "requested_by": job.requested_by,
        "created_at": job.created_at.isoformat(),
        "verdict": job.result.verdict if job.result else None,
    }
    cleaned: dict[str, Any] = redact_data(view)
    return cleaned


def jobs_table(jobs: list[Job]) -> Table:
    table = Table("id", "status", "phase", "job", "agent", "asked by", "queued", box=box.SIMPLE)
    for job in jobs:
        table.add_row(
            str(job.id),
            job.status.value,
            Text(job.reached),
            Text(redact(job.spec.describe())),
            Text(job.agent or "-"),
            Text(job.requested_by or "-"),
            job.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table
