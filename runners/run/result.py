"""A run's outcome and the events on the way, as values that travel as JSON: from the
playbook to `run --json`, from the agent to the coordinator, from the store to the bot."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, Field

from runners.doctor import DoctorReport
from runners.redact import redact_data
from runners.run.answer_report import AnswerReport
from runners.spec.job import JobSpec
from runners.states import Phase, Status

if TYPE_CHECKING:
    from kb import Triage


def _no_smokes() -> dict[str, dict[str, Any] | None]:
    return {"text": None, "image": None}


class EventKind(StrEnum):
    PHASE = "phase"  # a phase reached (its phase)
    STAGE = "stage"  # a startup stage the log announced
    PROGRESS = "progress"  # how far a stage is: message "12/67"
    NOTE = "note"
    LOG = "log"  # where the server's log is (message: its path on the host)
    VERDICT = "verdict"  # the coordinator's: the result came (message: its verdict)


class Event(BaseModel):
    """Something the thread should know now: a phase or stage reached, a note."""

    kind: EventKind
    phase: Phase  # where the job was when it happened
    stage: str | None = None
    message: str = ""
    at: float = Field(default_factory=time.time)


class FirstError(BaseModel):
    signature: str
    lines: list[str] = Field(default_factory=list)


class NextStep(BaseModel):
    playbook: str  # "smoke" | "eager" | "fallback"
    fallback: str | None = None  # name or name=value
    reason: str
    # Also worth a try: fallback names (name=value) or "eager".
    alternatives: list[str] = Field(default_factory=list)


class RunbookMatch(BaseModel):
    """One runbook entry the triage named for a run's first error."""

    entry_id: str
    title: str
    confidence: str  # "high" | "medium" | "low"
    score: float = 0.0
    actions: list[str] = Field(default_factory=list)


class RunTriage(BaseModel):
    """The runbook's answer for a failed run: kb's triage, as a value that travels as JSON."""

    verdict: Literal["match", "likely", "no_match"]
    matches: list[RunbookMatch] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def top(self) -> RunbookMatch | None:
        return self.matches[0] if self.matches else None

    @classmethod
    def of(cls, found: Triage) -> RunTriage:
        matches = [
            RunbookMatch(
                entry_id=m.entry_id, title=m.title, confidence=m.confidence, score=m.score,
                actions=list(m.actions),
            )
            for m in found.matches
        ]  # fmt: skip
        return cls(verdict=found.verdict, matches=matches, notes=list(found.notes))  # type: ignore[arg-type]


class Triager(Protocol):
    """How a run's first error is asked of the runbook: kb's `Triager.triage`, or a
    stand-in; `observed` holds what the runner saw happen (`@first-request-crash`)."""

    def __call__(self, text: str, /, *, observed: frozenset[str] = ...) -> Triage: ...


class RunResult(BaseModel):
    playbook: str
    # A verdict: passed | failed | timeout | cancelled | blocked (the coordinator takes no
    # other from an agent). A stand-in for a job with no result yet may carry its status.
    status: Status
    phase: Phase  # the last phase reached
    stage: str | None = None  # the last startup stage the log announced
    verdict: str = ""  # one line for people: "graph-only: passes with --enforce-eager"
    ready_s: float | None = None
    timings: dict[str, float] = Field(default_factory=dict)  # seconds spent per phase
    smoke: dict[str, dict[str, Any] | None] = Field(default_factory=_no_smokes)
    # The deterministic probes, their replies and the answer checks (runners.run.answer_report).
    answers: AnswerReport | None = None
    doctor: DoctorReport | None = None  # the model folder examined before launching
    first_error: FirstError | None = None
    triage: RunTriage | None = None
    next: NextStep | None = None
    log_path: str | None = None
    log_tail: list[str] = Field(default_factory=list)
    served_model: str | None = None
    max_model_len: int | None = None
    evidence: dict[str, str] = Field(default_factory=dict)  # eager / graph markers seen
    environment: dict[str, Any] = Field(default_factory=dict)
    argv: list[str] = Field(default_factory=list)
    env_overrides: dict[str, str] = Field(default_factory=dict)
    cleanup: str = ""  # "clean", or what was left behind
    # What the runner saw happen, in words ("ready after 20.1 s", "the first request got
    # HTTP 500 0.3 s after ready"), and as facts the triage reads (`@first-request-crash`).
    observed: list[str] = Field(default_factory=list)
    facts: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    spec: JobSpec | None = None

    def triaged(self, triage: Triager) -> RunTriage | None:
        """The runbook's answer for this run's first error, read with what the runner saw
        (`@first-request-crash`, ...): the one place a run meets the triage, in the CLI
        and in the bot alike. None when the run has no first error."""
        if self.first_error is None:
            return None
        if self.doctor is not None and not self.doctor.ok and self.triage is not None:
            return self.triage  # the doctor named the entry from the checkpoint itself
        text = "\n".join(self.first_error.lines or [self.first_error.signature])
        return RunTriage.of(triage(text, observed=frozenset(self.facts)))

    def redacted(self) -> RunResult:
        """This result with every string in it redacted: what may leave the host (first
        error, notes, smoke replies, argv, log tail, environment, verdict)."""
        return RunResult.model_validate(redact_data(self.model_dump(mode="json")))
