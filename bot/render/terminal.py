"""Render triage answers, lookups and eval reports for a terminal, with rich."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.core import wording
from bot.core.layout import Part, triage_parts
from kb import Match, Report, Triage

_STYLE = {"high": "bold green", "medium": "yellow", "low": "dim"}


def _actions(match: Match) -> RenderableType:
    numbered = "\n".join(f"{n}. {a}" for n, a in enumerate(match.actions, start=1))
    return Markdown(numbered)


_HEAD_STYLE = {"match": "bold green", "likely": "bold yellow"}


def _part(part: Part, verdict: str) -> Sequence[RenderableType]:
    if part.kind == "head":
        return [Text(part.title, style=_HEAD_STYLE.get(verdict, "bold red"))]
    if part.kind == "meta":
        return [Text(f"{part.title} · entry {part.entry_id}", style=_STYLE[part.confidence])]
    if part.kind == "body":
        return [Text(part.title, style="dim")]
    if part.kind == "cause":
        cause = part.lines[0][:300] if part.lines else wording.NO_SIGNATURE
        return [Text.assemble((f"{part.title}: ", "bold"), cause)]
    if part.kind == "evidence":
        return [Text(f"{part.title}:", style="bold")] + [
            Text(f"  > {line}", style="cyan") for line in part.lines
        ]
    if part.kind == "confirm":
        return [Text(f"{part.title}:", style="bold")] + [Text(f"  • {c}") for c in part.lines]
    if part.kind == "actions":
        numbered = "\n".join(f"{n}. {a}" for n, a in enumerate(part.lines, start=1))
        return [Text(f"{part.title}:", style="bold"), Markdown(numbered)]
    if part.kind == "candidates":
        table = Table(title=part.title, show_header=False, box=None)
        for m in part.matches:
            table.add_row(f"{m.score:.2f}", Text(m.confidence, _STYLE[m.confidence]), m.title)
        return [table]
    return [Text(f"Note: {note}", style="italic yellow") for note in part.lines]


def triage_view(result: Triage) -> RenderableType:
    """The answer as Slack and the console say it (bot.core.layout), for a terminal."""
    parts = [r for part in triage_parts(result) for r in _part(part, result.verdict)]
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
