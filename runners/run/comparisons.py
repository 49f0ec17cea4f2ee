"""Deterministic replies of one run set beside another's: against the known-good run of
the same checkpoint (`--record-golden`), or graph mode beside eager. Values that travel in
`AnswerReport.comparisons`, and the pure diff that makes them.

Every probe is asked at temperature 0 with seed 0, so on the same weights, flags and
software a reply is expected to be the same text; the first differing character says
where two replies part.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

Kind = Literal["known-good", "graph-vs-eager"]
KNOWN_GOOD: Kind = "known-good"
GRAPH_VS_EAGER: Kind = "graph-vs-eager"
GRAPH_DIFFERS = "graph mode answers differently from eager at temperature 0"


class KnownReply(BaseModel):
    """One deterministic probe's reply, as kept for later runs to compare with."""

    probe: str
    endpoint: str
    prompt: str
    reply: str
    finish_reason: str | None = None
    completion_tokens: int = 0


class ReplyDiff(BaseModel):
    probe: str
    endpoint: str
    prompt: str
    then: str  # the reference run's reply (known-good, or the other mode's)
    now: str  # this run's
    at: int  # the first character where they differ


class Comparison(BaseModel):
    kind: Kind
    against: str  # "the known-good run of 2026-12-07 10:31 UTC (job 12)"
    then_label: str  # how the reference reply is labelled: "known-good", "eager"
    now_label: str  # "now", "graph"
    matched: list[str] = Field(default_factory=list)  # "echo (chat)" of the equal replies
    diffs: list[ReplyDiff] = Field(default_factory=list)
    # What differs between the two runs besides the replies (flags, versions, mode): a
    # reason for the replies to differ too. Empty: same weights, flags and versions.
    changed: list[str] = Field(default_factory=list)
    fails: bool = False  # this difference fails the run (see `runners.replies.golden`)
    note: str = ""

    @property
    def differs(self) -> bool:
        return bool(self.diffs)

    def headline(self) -> str:
        """One line for the verdict and the findings."""
        if self.kind == GRAPH_VS_EAGER:
            also = "; the runs also differ in " + "; ".join(self.changed) if self.changed else ""
            if self.differs:
                return f"{GRAPH_DIFFERS} (compared with {self.against}{also})"
            return f"graph and eager modes answer alike at temperature 0 ({self.against}{also})"
        if not self.differs:
            return f"answers match {self.against}"
        why = (
            "the runs differ in " + "; ".join(self.changed)
            if self.changed
            else "same weights, flags and versions at temperature 0"
        )
        return f"answers differ from {self.against} ({why})"


def first_difference(a: str, b: str) -> int:
    """The index of the first character where `a` and `b` differ (the shorter's length
    when one is the start of the other)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def diff_replies(
    then: Iterable[KnownReply], now: Iterable[KnownReply]
) -> tuple[list[str], list[ReplyDiff]]:
    """(probes answered alike, probes answered differently) over the probes both runs
    answered, matched by probe and endpoint, in this run's order."""
    reference = {(r.probe, r.endpoint): r for r in then}
    matched: list[str] = []
    diffs: list[ReplyDiff] = []
    for reply in now:
        old = reference.get((reply.probe, reply.endpoint))
        if old is None:
            continue
        if old.reply == reply.reply:
            matched.append(f"{reply.probe} ({reply.endpoint})")
        else:
            diffs.append(
                ReplyDiff(
                    probe=reply.probe,
                    endpoint=reply.endpoint,
                    prompt=reply.prompt,
                    then=old.reply,
                    now=reply.reply,
                    at=first_difference(old.reply, reply.reply),
                )
            )
    return matched, diffs
