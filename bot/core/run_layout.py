"""A runner job's verdict as the parts every medium shows, in order and in the shared wording.

The Slack verdict (`bot.render.run_blocks`), `ascend-oncall run` and `jobs show`
(`bot.render.run_text`) each draw these parts and add only what their medium has (Slack's
buttons and emoji, the terminal's colour); what is said, and in what order, is decided here
once, as `bot.core.layout` does for a paste. Everything read from a host is redacted here.

A part's `text` may hold `code` spans (a value in backticks, with any backtick of its own
made a quote): Slack shows them as code, a plain renderer drops the backticks (`plain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bot.core import wording
from bot.core.run_answers import (
    answers_heading,
    check_table,
    comparison_lines,
    finding_lines,
    reply_lines,
)
from bot.core.run_doctor import doctor_heading, doctor_lines
from runners import Phase, RunResult, RunTriage, Status, next_steps, redact

if TYPE_CHECKING:  # the job store's names load SQLAlchemy: not for every CLI start
    from runners import Job

LOG_LINES = 15  # of a failed run's log, at the end of its verdict
MIN_PHASE_S = 0.05  # a phase shorter than this is not worth naming

RunKind = Literal[
    "head", "facts", "first_error", "runbook", "doctor", "answers", "checks", "findings",
    "comparison", "environment", "cleanup", "next", "notes", "log",
]  # fmt: skip


@dataclass(frozen=True)
class RunPart:
    kind: RunKind
    title: str = ""  # head: the status; else the heading (runbook: the entry's title)
    text: str = ""  # head: the verdict; runbook: confidence and entry; next: the reason
    lines: tuple[str, ...] = ()  # facts, log and report lines, actions, notes, step words
    steps: tuple[str, ...] = ()  # next: the steps (runners.run.next_steps) `lines` words
    status: Status | None = None  # head


def plain(text: str) -> str:
    """A part's text without its markup: the `code` spans' backticks dropped."""
    return text.replace("`", "")


def _code(value: object) -> str:
    return "`" + str(value).replace("`", "'") + "`"


def runbook_part(triage: RunTriage | None) -> RunPart | None:
    """The runbook entry named for a run's first error, with how sure and what to do: the
    one wording of a runbook match, in a verdict and in the autopilot's ladder alike."""
    top = triage.top if triage is not None else None
    if triage is None or top is None:
        return None
    heading = wording.RUNBOOK_HEADS.get(triage.verdict, wording.RUNBOOK_HEADS["no_match"])
    return RunPart(
        "runbook",
        wording.RUN_MATCH.format(heading=heading, title=top.title),
        wording.RUN_MATCH_META.format(confidence=top.confidence, id=top.entry_id),
        tuple(top.actions),
    )


def step_words(step: str) -> str:
    """A next step as its button (and the terminal) says it."""
    if step == "eager":
        return wording.RUN_EAGER
    if step.startswith("fallback:"):
        return wording.RUN_FALLBACK.format(name=step.split(":", 1)[1])
    return wording.RUN_AGAIN.format(playbook=step)


def job_result(job: Job) -> RunResult:
    """The job's result, or what is known of one that has none (lost, cancelled queued)."""
    if job.result is not None:
        return job.result
    verdict = wording.LOST_VERDICT if job.status is Status.LOST else ""
    phase = Phase(job.reached)  # with no result: where the job is, a phase of the table
    return RunResult(playbook=job.spec.playbook, status=job.status, phase=phase, verdict=verdict)


def job_parts(job: Job, triage: RunTriage | None = None) -> tuple[RunPart, ...]:
    """A finished job's verdict: its result judged by the job's own status, with the log
    tail it sent while running when the result has none."""
    return run_parts(job_result(job), triage, status=job.status, tail=job.log_tail)


def run_parts(
    result: RunResult,
    triage: RunTriage | None = None,
    *,
    status: Status | None = None,
    tail: Sequence[str] = (),
) -> tuple[RunPart, ...]:
    """The parts of a run's verdict, in order: status and verdict, facts (ready time, time
    per phase, evidence), first error, runbook match, doctor, answer checks, environment,
    cleanup, next step, notes, log tail. `triage` stands in for the result's own match."""
    status = status or Status(result.status)
    parts = [RunPart("head", status.value, redact(result.verdict), status=status)]
    facts = []
    if result.ready_s is not None:
        facts.append(wording.READY_AFTER.format(seconds=result.ready_s))
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items() if v >= MIN_PHASE_S)
    if phases:
        facts.append(wording.TIME_PER_PHASE.format(phases=phases))
    if result.evidence:
        markers = "; ".join(f"{k}: {_code(v)}" for k, v in result.evidence.items())
        facts.append(wording.RUN_EVIDENCE.format(markers=markers))
    if facts:
        parts.append(RunPart("facts", lines=tuple(facts)))
    if result.first_error:
        signature = redact(result.first_error.signature)
        parts.append(RunPart("first_error", wording.FIRST_ERROR, lines=(signature,)))
    if match := runbook_part(triage or result.triage):
        parts.append(match)
    if heading := doctor_heading(result):
        lines = tuple(redact(ln) for ln in doctor_lines(result))
        parts.append(RunPart("doctor", redact(heading), lines=lines))
    parts += _answers(result)
    if environment := _environment(result.environment):
        parts.append(RunPart("environment", text=environment))
    if result.cleanup and result.cleanup != "clean":
        left = redact(result.cleanup)
        parts.append(RunPart("cleanup", text=wording.NOT_CLEAN.format(left=left)))
    if result.next is not None:
        steps = tuple(next_steps(result.next))
        words = tuple(step_words(s) for s in steps)
        parts.append(RunPart("next", wording.NEXT, result.next.reason, words, steps))
    if result.notes:
        parts.append(RunPart("notes", lines=tuple(redact(n) for n in result.notes)))
    shown = [redact(ln) for ln in (result.log_tail or list(tail))][-LOG_LINES:]
    if shown and status is not Status.PASSED:
        parts.append(RunPart("log", wording.LOG_TAIL, lines=tuple(shown)))
    return tuple(parts)


def _answers(result: RunResult) -> list[RunPart]:
    """The probes' prompts and replies, the answer checks as a small table, the findings
    (template mismatch, no chat template), and each comparison with earlier replies."""
    heading = answers_heading(result)
    if heading is None:
        return []
    parts = [RunPart("answers", redact(heading), lines=tuple(map(redact, reply_lines(result))))]
    if table := check_table(result):
        parts.append(RunPart("checks", lines=tuple(table)))
    if findings := finding_lines(result):
        parts.append(RunPart("findings", lines=tuple(map(redact, findings))))
    for headline, lines in comparison_lines(result):  # known-good, graph vs eager
        parts.append(RunPart("comparison", redact(headline), lines=tuple(map(redact, lines))))
    return parts


def _environment(env: dict[str, Any]) -> str:
    """Packages and where they are, the server's version, the host and its NPUs."""
    parts = []
    for name, info in (env.get("packages") or {}).items():
        if info.get("version"):
            where = f" ({_code(info['path'])})" if info.get("path") else ""
            parts.append(f"{name} {info['version']}{where}")
    if env.get("vllm_cmd_version"):
        parts.append(f"server {_code(env['vllm_cmd_version'])}")
    if env.get("host"):
        parts.append(f"host {env['host']}")
    npu = (env.get("npu") or "").splitlines()
    if npu:
        parts.append("NPU: " + " ".join(npu[:3])[:200])
    return redact(" · ".join(parts))
