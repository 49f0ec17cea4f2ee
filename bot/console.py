"""The console adapter: the bot's commands over stdin/stdout, with no Slack at all.

Like Hubot's shell adapter: `/triage`, `/runbook`, `/helpful`, `/notthis`, `/help`, `/quit`;
any other text is a paste, ended by a line holding only "." or by the end of input.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from typing import TextIO

from bot import plain, wording
from bot.answers import Answer, Notice, TriageAnswer
from bot.core import Oncall

END_OF_PASTE = "."
_COMMAND = re.compile(r"/[a-z]+(?:\s|$)")
PROMPT = "oncall> "


class Console:
    def __init__(self, oncall: Oncall, out: TextIO, user: str | None = None) -> None:
        self.oncall = oncall
        self.out = out
        self.user = f"console:{user or getpass.getuser()}"
        self.last: TriageAnswer | None = None

    def say(self, answer: Answer | str) -> None:
        text = answer if isinstance(answer, str) else plain.render(answer)
        self.out.write(text.rstrip("\n") + "\n\n")
        self.out.flush()

    def triage(self, text: str) -> None:
        answer = self.oncall.triage(text, source="console", asked_by=None)
        if isinstance(answer, TriageAnswer):
            self.last = answer
        self.say(answer)

    def command(self, line: str, lines: Iterator[str]) -> bool:
        """Run one command line; False when the user asked to quit."""
        name, *more = line.strip().split(maxsplit=1)
        rest = more[0].strip() if more else ""
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            self.say(wording.HELP)
        elif name == "/triage":
            self.triage(rest or _paste(lines))
        elif name == "/runbook":
            self.say(self.oncall.runbook(rest))
        elif name == "/helpful":
            self._feedback("helpful", None)
        elif name == "/notthis":
            if not rest:
                self.say(plain.picker(self.oncall.entries()))
            else:
                self._feedback("not_this", rest)
        else:
            self.say(Notice(f"Unknown command {name}.\n\n{wording.HELP}", problem=True))
        return True

    def _feedback(self, vote: str, choice: str | None) -> None:
        if self.last is None:
            self.say(Notice("There is no answer yet to give feedback on.", problem=True))
            return
        entry_id = _entry_choice(choice, self.oncall) if choice else None
        if choice and entry_id is None and choice.lower() not in ("0", "none"):
            self.say(Notice(f"No entry {choice!r}. /notthis alone lists them.", problem=True))
            return
        self.say(self.oncall.feedback(self.last.answer_id, self.user, vote, entry_id))


def _entry_choice(choice: str, oncall: Oncall) -> str | None:
    entries = oncall.entries()
    if choice.isdigit() and 1 <= int(choice) <= len(entries):
        return entries[int(choice) - 1].id
    ids = {e.id for e in entries}
    return choice if choice in ids else None


def _is_command(line: str) -> bool:
    """`/runbook hccl` is a command; `/usr/lib/python3/torch_npu/__init__.py:248: ...` is a log."""
    return bool(_COMMAND.match(line))


def _paste(lines: Iterator[str]) -> str:
    kept = []
    for line in lines:
        if line.rstrip("\r\n") == END_OF_PASTE:
            break
        kept.append(line)
    return "".join(kept)


def run(oncall: Oncall, stdin: TextIO, out: TextIO, interactive: bool = False) -> None:
    console = Console(oncall, out)
    if interactive:
        console.say(wording.HELP)
    lines = iter(stdin.readline, "")
    while True:
        if interactive:
            out.write(PROMPT)
            out.flush()
        line = next(lines, None)
        if line is None:
            return
        if not line.strip() or line.strip() == END_OF_PASTE:
            continue
        if _is_command(line):
            if not console.command(line, lines):
                return
        else:
            console.triage(line + _paste(lines))
