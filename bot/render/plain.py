"""Console rendering of the core's answers: the same wording as Slack, as plain text."""

from __future__ import annotations

from bot.core import wording
from bot.core.answers import Answer, EntryRef, RunbookAnswer, TriageAnswer
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


def _triage(answer: TriageAnswer) -> list[str]:
    result = answer.triage
    cause = [f"  {result.signature}"] if result.signature else [f"  {wording.NO_SIGNATURE}"]
    if result.verdict == "match":
        top = result.matches[0]
        out = [
            wording.MATCH_HEAD.format(title=top.title),
            wording.CONFIDENCE.format(confidence=top.confidence, score=top.score)
            + f" · {wording.ENTRY_ID.format(id=top.entry_id).replace('`', '')}",
            f"{wording.ROOT_CAUSE}:",
            *cause,
        ]
        evidence = [e for e in top.evidence if e != result.signature]
        if evidence:
            out += [f"{wording.EVIDENCE}:", *(f"  {e}" for e in evidence)]
        out += [f"{wording.ACTIONS}:", *_actions(top.actions)]
        if answer.others():
            out += [f"{wording.OTHERS}:", *_candidates(answer.others())]
        hint = "/helpful, or /notthis to pick the right entry"
    elif result.verdict == "likely":
        top = result.matches[0]
        out = [
            wording.LIKELY_HEAD.format(title=top.title),
            wording.LIKELY_BODY.format(score=top.score)
            + f" · {wording.ENTRY_ID.format(id=top.entry_id).replace('`', '')}",
            f"{wording.ROOT_CAUSE}:",
            *cause,
            f"{wording.CONFIRM}:",
            *(f"  • {_md(c)}" for c in result.confirm),
            f"{wording.LIKELY_ACTIONS}:",
            *_actions(top.actions),
        ]
        if answer.others():
            out += [f"{wording.OTHERS}:", *_candidates(answer.others())]
        hint = "/helpful, or /notthis to pick the right entry"
    else:
        out = [wording.NO_MATCH_HEAD, wording.NO_MATCH_BODY, f"{wording.ROOT_CAUSE}:", *cause]
        if answer.others():
            out += [f"{wording.MAYBES}:", *_candidates(answer.others())]
        hint = "/notthis to pick the right entry"
    out += [f"note: {n}" for n in (*result.notes, *answer.notes)]
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
