"""What the bot says, as plain values: the core returns these, each adapter renders them.

Nothing here knows about Slack or terminals; `bot.render.blocks` and `bot.render.plain`
turn these into Block Kit and console text, both with the phrases in `bot.core.wording`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import layout
from kb import Match, Triage


@dataclass(frozen=True)
class EntryRef:
    id: str
    title: str


@dataclass(frozen=True)
class TriageAnswer:
    triage: Triage
    answer_id: int
    asked_by: str | None = None  # a Slack user id; None in the console
    notes: tuple[str, ...] = ()  # from the adapter: files skipped or cut
    model: str | None = None  # the model the pasted log was serving, if it says

    def others(self) -> tuple[Match, ...]:
        """Candidates besides the answer worth naming: "maybe" entries for a no_match."""
        return layout.others(self.triage)


@dataclass(frozen=True)
class RunbookAnswer:
    query: str
    found: tuple[Match, ...]  # with actions; empty for "list everything"
    entries: tuple[EntryRef, ...]  # every entry, for the listing and the picker


@dataclass(frozen=True)
class Notice:
    """A short sentence: usage, a thank-you, or why a paste could not be read."""

    text: str
    problem: bool = False


Answer = TriageAnswer | RunbookAnswer | Notice
