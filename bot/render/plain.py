"""Console rendering of the core's answers: the same wording as Slack, as plain text."""

from __future__ import annotations

from bot.core import wording
from bot.core.answers import Answer, EntryRef, RunbookAnswer, TriageAnswer
from bot.core.layout import Part, triage_parts
from kb import Match

_INDENT = "    "


def _md(text: str) -> str:
    return text.replace("**", "")


def _actions(actions: tuple[str, ...]) -> list[str]:
    out = []
    for n, action in enumerate(actions, 1):
        first, *rest = _md(action).splitlines() or [""]
        out.append(f"  {n}. {first}")
        out += [f"{_INDENT}{line}" for line in rest]
    return out


def _candidates(matches: tuple[Match, ...]) -> list[str]:
    return [f"  • {m.title} ({m.confidence}, {m.score:.2f})  [{m.entry_id}]" for m in matches]


def _part(part: Part) -> list[str]:
    if part.kind in ("head", "body"):
        return [part.title]
    if part.kind == "meta":
        return [f"{part.title} · {wording.ENTRY_ID.format(id=part.entry_id).replace('`', '')}"]
    if part.kind == "cause":
        return [f"{part.title}:", *(f"  {line}" for line in part.lines or [wording.NO_SIGNATURE])]
    if part.kind == "evidence":
        return [f"{part.title}:", *(f"  {line}" for line in part.lines)]
    if part.kind == "confirm":
        return [f"{part.title}:", *(f"  • {_md(line)}" for line in part.lines)]
    if part.kind == "actions":
        return [f"{part.title}:", *_actions(part.lines)]
    if part.kind == "candidates":
        return [f"{part.title}:", *_candidates(part.matches)]
    return [f"note: {n}" for n in part.lines]


def _triage(answer: TriageAnswer) -> list[str]:
    out = [line for part in triage_parts(answer.triage, answer.notes) for line in _part(part)]
    named = answer.triage.verdict in ("match", "likely")
    hint = (
        "/helpful, or /notthis to pick the right entry"
        if named
        else "/notthis to pick the right entry"
    )
    out.append(f"(answer {answer.answer_id}: {hint})")
    return out


def _runbook(answer: RunbookAnswer) -> list[str]:
    if not answer.query:
        return [wording.RUNBOOK_ALL.format(n=len(answer.entries)).replace("`", "")] + [
            f"  • {e.title}  [{e.id}]" for e in answer.entries
        ]
    if not answer.found:
        return [wording.RUNBOOK_NONE.format(query=answer.query).replace("`", "")]
    out = [wording.RUNBOOK_HEAD.format(query=answer.query)]
    for match in answer.found:
        out += ["", f"{match.title}  [{match.entry_id}]", *_actions(match.actions)]
    return out


def render(answer: Answer) -> str:
    if isinstance(answer, TriageAnswer):
        return "\n".join(_triage(answer))
    if isinstance(answer, RunbookAnswer):
        return "\n".join(_runbook(answer))
    return answer.text


def picker(entries: tuple[EntryRef, ...]) -> str:
    lines = [wording.PICKER_TITLE]
    lines += [f"  {n}. {e.title}  [{e.id}]" for n, e in enumerate(entries, 1)]
    lines.append(f"  0. {wording.PICKER_NONE}")
    lines.append("Answer with /notthis N (or an entry id, or none).")
    return "\n".join(lines)
