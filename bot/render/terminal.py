"""Render triage answers, lookups and eval reports for a terminal, with rich."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kb import Match, Report, Triage

_STYLE = {"high": "bold green", "medium": "yellow", "low": "dim"}
_WORTH_NAMING = 0.05  # candidates below this are noise, not "maybe"


def _actions(match: Match) -> RenderableType:
    numbered = "\n".join(f"{n}. {a}" for n, a in enumerate(match.actions, start=1))
    return Markdown(numbered)


def triage_view(result: Triage) -> RenderableType:
    parts: list[RenderableType] = []
    if result.signature:
        parts.append(Text.assemble(("Root cause: ", "bold"), result.signature[:300]))
    for note in result.notes:
        parts.append(Text(f"Note: {note}", style="italic yellow"))
    if result.verdict == "match":
        best = result.matches[0]
        parts.append(
            Text.assemble(
                ("Runbook: ", "bold"),
                best.title,
                "  ",
                (f"{best.confidence} ({best.score:.2f})", _STYLE[best.confidence]),
            )
        )
        for line in best.evidence:
            parts.append(Text(f"  > {line}", style="cyan"))
        parts.append(_actions(best))
        others, title = result.matches[1:], "Other candidates"
    elif result.verdict == "likely":
        best = result.matches[0]
        parts.append(
            Text.assemble(
                ("Likely: ", "bold yellow"), best.title, "  ", (f"({best.score:.2f})", "yellow")
            )
        )
        parts.append(Text("It is this entry if the log also shows:", style="bold"))
        for symptom in result.confirm:
            parts.append(Text(f"  • {symptom}"))
        parts.append(_actions(best))
        others, title = result.matches[1:], "Other candidates"
    else:
        parts.append(Text("No runbook entry matches this.", style="bold red"))
        others, title = result.matches[:3], "Maybe"
    others = tuple(m for m in others if m.score >= _WORTH_NAMING)
    if others:
        table = Table(title=title, show_header=False, box=None)
        for m in others:
            table.add_row(f"{m.score:.2f}", Text(m.confidence, _STYLE[m.confidence]), m.title)
        parts.append(table)
    heading = {"match": "match", "likely": "likely"}.get(result.verdict, "no match")
    return Panel(Group(*parts), title=f"triage: {heading}", title_align="left")


def search_view(query: str, matches: list[Match]) -> RenderableType:
    if not matches:
        return Text(f"No runbook entry mentions {query!r}.", style="yellow")
    parts: list[RenderableType] = []
    for m in matches:
        parts.append(Text.assemble((m.title, "bold"), f"  [{m.entry_id}]  {m.score:.2f}"))
        parts.append(_actions(m))
    return Group(*parts)


def report_view(report: Report, heading: str, hidden: tuple[str, ...] = ()) -> RenderableType:
    """Figures, per entry, and the misses of every split but those `hidden` (held out)."""
    metrics = report.metrics()
    summary = Table(title=heading, show_header=True)
    for key in metrics:
        summary.add_column(key, justify="right")
    summary.add_row(
        *(f"{v:.1%}" if isinstance(v, float) and k != "mrr" else str(v) for k, v in metrics.items())
    )
    per_entry = Table(title="per entry", show_header=True)
    per_entry.add_column("entry")
    per_entry.add_column("cases", justify="right")
    per_entry.add_column("top-1", justify="right")
    per_entry.add_column("top-3", justify="right")
    for entry_id, row in report.per_entry().items():
        style = "" if row["top1"] == row["cases"] else "yellow"
        per_entry.add_row(
            entry_id, str(row["cases"]), str(row["top1"]), str(row["top3"]), style=style
        )
    failures = Table(title="misses", show_header=True)
    failures.add_column("case")
    failures.add_column("expected")
    failures.add_column("got")
    shown = [o for o in report.failures() if o.case.split not in hidden]
    for o in shown:
        got = o.ranked[0] if o.verdict != "no_match" and o.ranked else "(no_match)"
        got = f"{got} ({o.verdict})" if o.verdict == "likely" else got
        failures.add_row(o.case.id, o.case.expected or "(no_match)", f"{got} {o.top_score:.2f}")
    kept = len(report.failures()) - len(shown)
    parts: list[RenderableType] = [summary, per_entry]
    parts.append(failures if shown else Text("no misses" if not kept else "no misses shown"))
    if kept:
        parts.append(
            Text(
                f"{kept} misses of {', '.join(hidden)} not listed: "
                "held-out cases are scored, not read",
                style="dim",
            )
        )
    return Group(*parts)


def splits_view(report: Report, splits: list[str]) -> RenderableType:
    table = Table(title="by split", show_header=True)
    for column in ("split", "cases", "clear", "top-1", "top-3", "abstain", "mrr"):
        table.add_column(column, justify="right")
    for name in splits:
        m = report.split(name).metrics()
        abstain = f"{m['abstain']:.1%}" if m["negatives"] else "n/a"
        top3 = f"{m['top3']:.1%}" if m["positives"] else "n/a"
        top1 = f"{m['top1']:.1%}" if m["clear"] else "n/a"
        table.add_row(
            name, str(m["cases"]), str(m["clear"]), top1, top3, abstain, f"{m['mrr']:.3f}"
        )
    return table
