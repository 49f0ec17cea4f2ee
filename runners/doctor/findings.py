"""What the doctor says: findings (one thing wrong or worth knowing, with its evidence and
the runbook entry it predicts) and the report of a whole examination."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning", "info"]
# How one check ended, for the table: a check with no finding passed; one that could not
# run (no serving interpreter, no config to read) says "not checked" and why.
Outcome = Literal["passed", "error", "warning", "info", "not checked"]
_RANK = {"error": 0, "warning": 1, "info": 2}


class Finding(BaseModel):
    """One thing a check found. `entry_id` is the runbook entry a launch would end in (its
    slug), or None when the runbook has none for it."""

    model_config = ConfigDict(frozen=True)

    check: str
    severity: Severity
    message: str
    entry_id: str | None = None
    evidence: tuple[str, ...] = ()
    # The runbook fallback a relaunch with would avoid it (`max-model-len=2048`), if any.
    fallback: str | None = None


class Checked(BaseModel):
    """One check and how it ended."""

    model_config = ConfigDict(frozen=True)

    check: str
    outcome: Outcome
    note: str = ""  # why it was not checked, or what it looked at


class DoctorReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    model_dir: str
    findings: tuple[Finding, ...] = ()
    checked: tuple[Checked, ...] = ()
    probe: dict[str, str] = Field(default_factory=dict)  # versions the interpreter reported

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")


def outcome(check: str, findings: list[Finding], not_checked: str | None = None) -> Checked:
    """How `check` ended: its worst finding, else passed (or not checked, and why)."""
    mine = [f.severity for f in findings if f.check == check]
    if mine:
        return Checked(check=check, outcome=min(mine, key=_RANK.__getitem__))
    if not_checked is not None:
        return Checked(check=check, outcome="not checked", note=not_checked)
    return Checked(check=check, outcome="passed")
