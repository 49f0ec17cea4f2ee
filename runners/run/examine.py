"""The doctor before a launch, and the `/doctor` job: a model folder on this host examined
from its metadata before `vllm serve` spends minutes finding the same thing.

An error blocks the launch with its finding and the runbook entry it predicts; warnings go
into the verdict as notes. A hub name is not a folder here: there is nothing to examine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from kb import DEFAULT_RUNBOOK, Entry, KBError, parse
from runners.doctor import DoctorError, DoctorReport, Finding, diagnose
from runners.run.result import FirstError, NextStep, RunbookMatch, RunResult, RunTriage
from runners.spec.job import JobSpec, launch_plan
from runners.states import Status


@dataclass(frozen=True)
class Examination:
    report: DoctorReport | None  # None: nothing was examined (a hub name, or --no-doctor)
    blocked: str | None = None  # why the launch must not go ahead
    triage: RunTriage | None = None  # the runbook entry the first error predicts
    next: NextStep | None = None  # the relaunch that avoids it, where the doctor knows one


def examine(
    spec: JobSpec,
    vllm_cmd: tuple[str, ...],
    roots: tuple[str, ...] = (),
) -> Examination:
    """Examine the job's model folder for its launch (its serve args and env included)."""
    if not _local(spec.model):
        if spec.playbook == "doctor":
            why = f"the doctor reads a model folder on this host; {spec.model} is not a path"
            return Examination(None, blocked=why)
        return Examination(None)
    if spec.no_doctor and spec.playbook != "doctor":
        return Examination(None)
    args, env, _ = launch_plan(spec)
    try:
        report = diagnose(
            spec.model, serve_args=args, env={**spec.env, **env}, vllm_cmd=vllm_cmd, roots=roots
        )
    except DoctorError as exc:
        return Examination(None, blocked=f"doctor: {exc}")
    if report.ok:
        return Examination(report)
    first = report.errors[0]
    why = f"doctor [{first.check}]: {first.message}"
    nxt = None
    if first.fallback and spec.fallback != first.fallback:
        reason = f"the doctor: {first.message}"
        nxt = NextStep(playbook="fallback", fallback=first.fallback, reason=reason)
    return Examination(report, blocked=why, triage=_triage(first), next=nxt)


def doctor_job(
    spec: JobSpec, vllm_cmd: tuple[str, ...], roots: tuple[str, ...], result: RunResult
) -> None:
    """A `/doctor` job: the examination is the whole run, and nothing is launched."""
    found = examine(spec, vllm_cmd, roots)
    result.doctor, result.triage, result.next = found.report, found.triage, found.next
    if found.report is None:
        result.status, result.verdict = Status.BLOCKED, f"blocked: {found.blocked}"
        result.first_error = FirstError(signature=found.blocked or "not examined")
        return
    result.verdict = summary(found.report)
    if found.report.ok:
        result.status = Status.PASSED
        reason = "the checkpoint reads clean: start it and send it a request"
        result.next = NextStep(playbook="smoke", reason=reason)
    else:
        result.status = Status.FAILED
        result.first_error = FirstError(signature=found.blocked or result.verdict)
        result.next = found.next


def summary(report: DoctorReport) -> str:
    """One line for a verdict: `doctor: 2 errors, 1 warning (heads, fp8)`."""
    errors, warnings = len(report.errors), len(report.warnings)
    if not errors and not warnings:
        return f"doctor: no problem found ({len(report.checked)} checks)"
    words = [f"{errors} error(s)"] if errors else []
    words += [f"{warnings} warning(s)"] if warnings else []
    names = dict.fromkeys(f.check for f in (*report.errors, *report.warnings))
    return f"doctor: {', '.join(words)} ({', '.join(names)})"


def _local(model: str) -> bool:
    return model.startswith("/")  # check_model: a path is absolute, a hub name never is


def _triage(finding: Finding) -> RunTriage | None:
    """The finding's runbook entry as the run's answer: the doctor knows it, no search."""
    entry = _entries().get(finding.entry_id or "")
    if entry is None:
        return None
    match = RunbookMatch(
        entry_id=entry.id, title=entry.title, confidence="high", score=1.0,
        actions=list(entry.actions),
    )  # fmt: skip
    note = f"found by the doctor: {finding.message}"
    return RunTriage(verdict="match", matches=[match], notes=[note])


@lru_cache(maxsize=1)
def _entries() -> dict[str, Entry]:
    # The shipped runbook: the doctor's entry ids are its entries (tests/doctor checks it).
    try:
        return {e.id: e for e in parse((DEFAULT_RUNBOOK,))}
    except KBError:
        return {}
