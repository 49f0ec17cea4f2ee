"""`ascend-oncall jobs submit|list|show|cancel|log`: runner jobs from the shell of the
bot's machine, in the bot's database (ONCALL_DATABASE_URL), with no Slack. A job is
queued as a dispatch from Slack queues it: the same checks, the same audit (source
"cli"); an agent takes it as any other, and nothing is posted in chat.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, get_args

import typer
from rich.text import Text

from bot.cli.common import Runbook, err, fail, load_settings, out
from bot.render.job_view import job_json, job_lines, jobs_table, list_json
from bot.settings import Settings
from runners import (
    JobSpec,
    Playbook,
    RunnerError,
    SpecError,
    Status,
    check_spec,
)

if TYPE_CHECKING:
    from runners import Job, JobStore

jobs_app = typer.Typer(
    no_args_is_help=True,
    help="Runner jobs from the shell: queue, list, show, cancel, read their logs (no Slack).",
)

EXIT_USAGE = 2
STATUSES = [s.value for s in Status]
PLAYBOOK_NAMES: tuple[str, ...] = get_args(Playbook)
UNREACHABLE = "(is ONCALL_DATABASE_URL the bot's database, and is it up?)"


@contextmanager
def _store(settings: Settings) -> Iterator[JobStore]:
    """The jobs in the bot's database; a database that cannot be reached, at the start or
    on the way, is said in words (exit 1), never as a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from runners import open_jobs, safe_url

    try:
        store = open_jobs(settings.database_url, settings.lease_s, settings.max_log_upload_bytes)
    except RunnerError as exc:
        raise fail(f"{exc}\n{UNREACHABLE}") from exc
    try:
        yield store
    except SQLAlchemyError as exc:
        where = safe_url(settings.database_url)
        raise fail(f"the database {where} failed: {type(exc).__name__}\n{UNREACHABLE}") from exc
    finally:
        store.engine.dispose()


def _who() -> str:
    """Who queued it, for the audit and the per-person queue limit: this shell's user."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (OSError, KeyError):  # no user name in this environment
        return "cli"


def _env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise SpecError(f"--env takes NAME=VALUE, not `{pair[:80]}`")
        env[name] = value
    return env


def _job_or_fail(store: JobStore, job_id: int) -> Job:
    job = store.job(job_id)
    if job is None:
        raise fail(f"no job {job_id}: `ascend-oncall jobs list` shows the latest")
    return job


def queue(store: JobStore, settings: Settings, spec: JobSpec, user: str) -> int:
    """The id of the job queued for `spec`, checked as the Slack dispatcher checks it; a
    refusal is audited and raised as RunnerError (its words are for the person)."""
    command = spec.describe()

    def refuse(why: str) -> RunnerError:
        store.audit(source="cli", command=command, allowed=False, reason=why, user_id=user)
        return RunnerError(why)

    try:
        checked = check_spec(
            spec,
            settings.model_roots,
            strict_paths=False,  # the model is on the host's disk, not this machine's
            remote_code=settings.allow_remote_code,
        )
    except SpecError as exc:
        store.audit(source="cli", command=command, allowed=False, reason=str(exc), user_id=user)
        raise
    if not store.served(checked.labels):
        labels = ", ".join(checked.labels)
        raise refuse(
            f"no agent has the labels {labels}: `ascend-oncall coordinator agents` lists them"
            if labels
            else "no runner agent is registered yet: `ascend-oncall coordinator add-agent` "
            "makes one"
        )
    if why := store.queue_refusal(user, settings.max_queued_per_user):
        raise refuse(why)
    job = store.submit(checked, requested_by=user)
    store.audit(source="cli", command=command, allowed=True, user_id=user, job_id=job.id)
    return job.id


@jobs_app.command(
    "submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def submit(
    ctx: typer.Context,
    playbook: Annotated[str, typer.Argument(help="smoke, eager, fallback or doctor.")],
    model: Annotated[str, typer.Option(help="Model name (org/name) or path on the host.")],
    vl: Annotated[bool, typer.Option("--vl", help="A vision-language model.")] = False,
    fallback: Annotated[
        str | None, typer.Option(help="For fallback: torchdynamo-disable, hccl-aiv, ...")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="NAME=VALUE for the server (allow-listed).")
    ] = None,
    on: Annotated[
        list[str] | None,
        typer.Option("--on", metavar="LABEL", help="Run on an agent with this label or name."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Queue a job for an agent, as /smoke etc. do in Slack. Serve arguments go after `--`."""
    if playbook not in PLAYBOOK_NAMES:
        choices = ", ".join(PLAYBOOK_NAMES)
        raise fail(f"playbook must be one of {choices}, not {playbook}", EXIT_USAGE)
    labels = tuple(label for value in on or () for label in value.split(",") if label)
    settings = load_settings()
    try:
        spec = JobSpec(
            playbook=playbook,  # type: ignore[arg-type]
            model=model,
            vl=vl,
            fallback=fallback,
            args=tuple(ctx.args),
            env=_env(env or []),
            labels=labels,
        )
    except SpecError as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    with _store(settings) as store:
        try:
            job_id = queue(store, settings, spec, _who())
        except SpecError as exc:
            raise fail(str(exc), EXIT_USAGE) from exc
        except RunnerError as exc:
            raise fail(str(exc)) from exc
        job = _job_or_fail(store, job_id)
    if as_json:
        print(json.dumps(job_json(job)))
        return
    err.print(Text(f"queued job {job.id}: {job.spec.describe()}"), soft_wrap=True)
    print(job.id)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        str | None, typer.Option(help=f"Only jobs in this status: {', '.join(STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The latest jobs, newest first."""
    if status is not None and status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}, not {status}", EXIT_USAGE)
    with _store(load_settings()) as store:
        jobs = store.recent(Status(status) if status else None, limit)
    if as_json:
        print(json.dumps([list_json(j) for j in jobs]))
        return
    if not jobs:
        err.print("no jobs" + (f" {status}" if status else ""))
        return
    out.print(jobs_table(jobs))


@jobs_app.command("show")
def show(
    job_id: Annotated[int, typer.Argument(metavar="ID", help="The job's number.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    no_triage: Annotated[
        bool,
        typer.Option("--no-triage", help="Do not read a failed run's error against the runbook."),
    ] = False,
) -> None:
    """One job: spec, status, phase, verdict, runbook match and timings."""
    settings = load_settings()
    with _store(settings) as store:
        job = _job_or_fail(store, job_id)
        started, kept = store.started_at(job.id), store.log(job.id)
    triage = None
    if not no_triage and job.result is not None:  # as the bot does for the thread's verdict
        triage = Runbook(settings).triage_run(job.result, quiet=as_json)
    if as_json:
        print(json.dumps(job_json(job, started, kept, triage)))
        return
    for line in job_lines(job, started, kept, triage):
        out.print(line, soft_wrap=True)


@jobs_app.command("cancel")
def cancel(job_id: Annotated[int, typer.Argument(metavar="ID", help="The job's number.")]) -> None:
    """Cancel a queued job, or ask a running one's agent to stop it."""
    user = _who()
    with _store(load_settings()) as store:
        job = _job_or_fail(store, job_id)
        if job.status.final:
            raise fail(f"job {job_id} is {job.status.value} already: nothing to cancel")
        done = store.cancel(job_id, user)
        store.audit(
            source="cli", command=f"cancel job {job_id}", allowed=True, user_id=user, job_id=job_id
        )
    if done is not None and done.status is Status.CANCELLED:
        err.print(f"job {job_id} cancelled before it started")
    else:
        err.print(f"job {job_id}: its agent was asked to stop it; the verdict follows")


@jobs_app.command("log")
def log(job_id: Annotated[int, typer.Argument(metavar="ID", help="The job's number.")]) -> None:
    """Print the job's server log as its agent sent it (redacted, cut to the cap)."""
    with _store(load_settings()) as store:
        job = _job_or_fail(store, job_id)
        kept = store.log(job_id)
    if kept is None:
        if not job.status.final:
            raise fail(
                f"job {job_id} is {job.status.value}: its agent sends the log with its verdict"
            )
        raise fail(f"job {job_id} has no server log: nothing was launched, or its agent sent none")
    sys.stdout.write(kept.text)
