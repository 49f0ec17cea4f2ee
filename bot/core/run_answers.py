"""A run's answer checks as plain lines, the same for Slack (inside code blocks) and the
terminal: each probe's prompt and reply (long replies cut, with a note), and the checks as
a small fixed-width table with what they measured."""

from __future__ import annotations

from runners import RunResult

REPLY_CHARS = 200  # of each reply, as shown: the shape shows early
CHECKS = ("empty", "artifacts", "repetition", "truncated")


def answers_heading(result: RunResult) -> str | None:
    """One line on how the answers were judged; None when the run asked nothing."""
    report = result.answers
    if report is None:
        return None
    if report.differs_from_known_good is not None:  # judged or not: the replies moved
        return f"Answer checks: failed: {report.summary()}"
    if not report.judged:
        return f"Answer checks: {report.not_judged}"
    if report.failed:
        return f"Answer checks: failed: {report.summary()}"
    return "Answer checks: passed (every reply is an answer in shape)"


def _shown(text: str, more: int) -> str:
    left = more + max(len(text) - REPLY_CHARS, 0)
    return repr(text[:REPLY_CHARS]) + (f"  (cut: {left} more characters)" if left else "")


def reply_lines(result: RunResult) -> list[str]:
    """Prompt and reply of every probe, in the order they were asked."""
    report = result.answers
    lines: list[str] = []
    for probe in report.probes if report else []:
        lines.append(f"{probe.probe} via /v1/{_path(probe.endpoint)}: {probe.prompt}")
        if probe.error is not None:
            lines.append(f"  -> no answer: {probe.error[:REPLY_CHARS]}")
        else:
            why = f", finish {probe.finish_reason}" if probe.finish_reason else ""
            tokens = f"{probe.completion_tokens}/{probe.max_tokens} tokens{why}"
            lines.append(f"  -> {_shown(probe.reply, probe.cut_chars)}  [{tokens}]")
    return lines


def _path(endpoint: str) -> str:
    return "chat/completions" if endpoint == "chat" else "completions"


def _cell(ok: bool, ratio: float | None) -> str:
    word = "ok" if ok else "FAIL"
    return f"{word} {ratio:.0%}" if ratio else word


def check_table(result: RunResult) -> list[str]:
    """probe | endpoint | one column per check: `ok`, `FAIL`, the repetition share."""
    report = result.answers
    if report is None or not report.probes:
        return []
    names = list(CHECKS) + sorted(
        {c.name for p in report.probes for c in p.checks} - set(CHECKS)
    )  # "encoding" only when a reply had it
    rows = [["probe", "endpoint", *names]]
    for probe in report.probes:
        by_name = {c.name: c for c in probe.checks}
        cells = [_cell(by_name[n].ok, by_name[n].ratio) if n in by_name else "-" for n in names]
        if probe.error is not None:
            cells = ["no answer"] + ["-"] * (len(names) - 1)
        endpoint = probe.endpoint + (" (ref)" if probe.reference else "")
        rows.append([probe.probe, endpoint, *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def finding_lines(result: RunResult) -> list[str]:
    return list(result.answers.findings) if result.answers else []


def comparison_lines(result: RunResult) -> list[tuple[str, list[str]]]:
    """(headline, lines) per comparison with earlier replies: the known-good run's, or
    graph mode beside eager; each differing probe's two replies one above the other, and
    where they part."""
    report = result.answers
    shown: list[tuple[str, list[str]]] = []
    for comparison in report.comparisons if report else []:
        lines: list[str] = []
        width = max(len(comparison.then_label), len(comparison.now_label)) + 1
        for diff in comparison.diffs:
            lines.append(f"{diff.probe} via /v1/{_path(diff.endpoint)}: {diff.prompt}")
            lines.append(f"  {comparison.then_label + ':':<{width}} {_shown(diff.then, 0)}")
            lines.append(f"  {comparison.now_label + ':':<{width}} {_shown(diff.now, 0)}")
            apart = f"{diff.then[diff.at : diff.at + 20]!r} vs {diff.now[diff.at : diff.at + 20]!r}"
            lines.append(f"  first difference at character {diff.at}: {apart}")
        if comparison.matched:
            lines.append("alike: " + ", ".join(comparison.matched))
        if comparison.note:
            lines.append(comparison.note)
        shown.append((comparison.headline(), lines))
    return shown
