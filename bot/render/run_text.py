"""A runner job's verdict as lines for a terminal: `ascend-oncall run` and `jobs show` draw
the parts `bot.core.run_layout` decides, the Slack verdict's in the same order and words.
Lines are `rich.text.Text`, so log and runbook text is never read as rich markup."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from bot.core.run_layout import RunPart, plain

_COLOUR = {"passed": "green"}  # every other verdict is red
_INDENT = "  "


def _indented(lines: Sequence[str]) -> list[Text]:
    return [Text(_INDENT + line) for line in lines]


def _part(part: RunPart) -> list[Text]:
    if part.kind == "head":
        colour = _COLOUR.get(part.title, "red")
        return [Text.assemble((part.title.upper(), f"bold {colour}"), f"  {part.text}")]
    if part.kind == "facts":
        return [Text(plain(line)) for line in part.lines]
    if part.kind == "first_error":
        return [Text(f"{part.title}: {line}") for line in part.lines]
    if part.kind == "runbook":
        numbered = [f"{n}. {action}" for n, action in enumerate(part.lines, 1)]
        return [Text(f"{part.title} ({plain(part.text)})"), *_indented(numbered)]
    if part.kind in ("doctor", "answers", "comparison"):
        return [Text(part.title), *_indented(part.lines)]
    if part.kind in ("checks", "findings"):
        return _indented(part.lines)
    if part.kind in ("environment", "cleanup"):
        return [Text(plain(part.text))]
    if part.kind == "next":
        return [Text(f"{part.title}: {part.text}"), *_indented(part.lines)]
    if part.kind == "notes":
        return [Text(f"note: {note}") for note in part.lines]
    return [Text(f"{part.title}:"), *_indented(part.lines)]  # the log tail


def verdict_lines(parts: Sequence[RunPart]) -> list[Text]:
    return [line for part in parts for line in _part(part)]
