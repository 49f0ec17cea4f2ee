"""A run's outcome and the events on the way, as values that travel as JSON: from the
playbook to `run --json`, from the agent to the coordinator, from the store to Slack."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field

from runners.redact import redact_data
from runners.spec import JobSpec


def _no_smokes() -> dict[str, dict[str, Any] | None]:
    return {"text": None, "image": None}


class Event(BaseModel):
    """Something the thread should know now: a phase or stage reached, a note."""

    kind: str  # "phase" | "stage" | "progress" (message "12/67") | "note"
    phase: str
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


class RunResult(BaseModel):
    playbook: str
    status: str  # passed | failed | timeout | cancelled | blocked
    phase: str  # the last phase reached
    stage: str | None = None  # the last startup stage the log announced
    verdict: str = ""  # one line for people: "graph-only: passes with --enforce-eager"
    ready_s: float | None = None
    timings: dict[str, float] = Field(default_factory=dict)  # seconds spent per phase
    smoke: dict[str, dict[str, Any] | None] = Field(default_factory=_no_smokes)
    first_error: FirstError | None = None
    triage: dict[str, Any] | None = None
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

    def redacted(self) -> RunResult:
        """This result with every string in it redacted: what may leave the host (first
        error, notes, smoke replies, argv, log tail, environment, verdict)."""
        return RunResult.model_validate(redact_data(self.model_dump(mode="json")))
