"""A triage answer as the parts every medium shows, in order and in the shared wording.

Slack blocks, console text and the terminal each draw these parts and add only what
their medium has (buttons, colours, the answer's number); what is said, and in what
order, is decided here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core import wording
from kb import Match, Triage

MAX_OTHERS = 3
MIN_OTHER_SCORE = 0.05  # below this an entry shares nothing with the paste: naming it is noise

Kind = Literal[
    "head", "meta", "body", "cause", "evidence", "confirm", "actions", "candidates", "notes"
]  # fmt: skip


@dataclass(frozen=True)
class Part:
    kind: Kind
    title: str = ""  # the sentence (head, meta, body) or the heading of what follows
    lines: tuple[str, ...] = ()  # a root cause, log lines, symptoms, actions, notes
    matches: tuple[Match, ...] = ()  # candidates
    entry_id: str = ""  # meta: the entry the answer names
    confidence: str = ""  # meta: high / medium / low


def others(result: Triage) -> tuple[Match, ...]:
    """Candidates besides the answer worth naming: "maybe" entries for a no_match."""
    named = result.verdict in ("match", "likely")
    rest = result.matches[1:] if named else result.matches
    return tuple(m for m in rest[:MAX_OTHERS] if m.score >= MIN_OTHER_SCORE)


def triage_parts(result: Triage, notes: tuple[str, ...] = ()) -> tuple[Part, ...]:
    cause = Part("cause", wording.ROOT_CAUSE, (result.signature,) if result.signature else ())
    candidates = others(result)
    parts: list[Part] = []
    if result.verdict in ("match", "likely"):
        top, likely = result.matches[0], result.verdict == "likely"
        head = wording.LIKELY_HEAD if likely else wording.MATCH_HEAD
        meta = (
            wording.LIKELY_BODY.format(score=top.score)
            if likely
            else wording.CONFIDENCE.format(confidence=top.confidence, score=top.score)
        )
        parts += [
            Part("head", head.format(title=top.title)),
            Part("meta", meta, entry_id=top.entry_id, confidence=top.confidence),
            cause,
        ]
        evidence = tuple(e for e in top.evidence if e != result.signature)
        if likely:
            parts.append(Part("confirm", wording.CONFIRM, result.confirm))
        elif evidence:
            parts.append(Part("evidence", wording.EVIDENCE, evidence))
        parts.append(
            Part("actions", wording.LIKELY_ACTIONS if likely else wording.ACTIONS, top.actions)
        )
        if candidates:
            parts.append(Part("candidates", wording.OTHERS, matches=candidates))
    else:
        parts += [Part("head", wording.NO_MATCH_HEAD), Part("body", wording.NO_MATCH_BODY), cause]
        if candidates:
            parts.append(Part("candidates", wording.MAYBES, matches=candidates))
    if result.notes or notes:
        parts.append(Part("notes", lines=(*result.notes, *notes)))
    return tuple(parts)
