"""A run's doctor report as plain lines, the same for Slack (inside a code block) and the
terminal: each finding with its evidence, and for a `/doctor` job every check's outcome."""

from __future__ import annotations

from runners import RunResult

EVIDENCE_LINES = 3  # of each finding: the field, the numbers, the first tensor names
WIDTH = 14  # of the check column


def doctor_heading(result: RunResult) -> str | None:
    report = result.doctor
    if report is None:
        return None
    errors, warnings = len(report.errors), len(report.warnings)
    if not errors and not warnings:
        return f"Doctor: {len(report.checked)} checks, no problem found"
    return f"Doctor: {errors} error(s), {warnings} warning(s) in {report.model_dir}"


def doctor_lines(result: RunResult) -> list[str]:
    """Findings first (errors, then warnings and notes); a doctor job adds every check."""
    report = result.doctor
    if report is None:
        return []
    lines: list[str] = []
    for finding in report.findings:
        lines.append(f"{finding.severity} [{finding.check}] {finding.message}")
        lines += [f"    {line}" for line in finding.evidence[:EVIDENCE_LINES]]
        if len(finding.evidence) > EVIDENCE_LINES:
            lines.append(f"    ({len(finding.evidence) - EVIDENCE_LINES} more)")
    if result.playbook == "doctor":
        lines += [""] if lines else []
        for checked in report.checked:
            note = f"  {checked.note}" if checked.note else ""
            lines.append(f"{checked.check:<{WIDTH}} {checked.outcome}{note}")
    return lines
