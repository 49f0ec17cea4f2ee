"""The console adapter: the bot's commands over stdin/stdout, with no Slack at all.

Like Hubot's shell adapter: `/triage`, `/runbook`, `/helpful`, `/notthis`, `/help`, `/quit`;
any other text is a paste. In a terminal (`run_terminal`), lines are edited and recalled
with prompt_toolkit and a paste is one message however many lines it has; from a pipe or a
file (`run`), a paste ends with a line holding only "." or with the end of input.
"""

from __future__ import annotations

import getpass
import re
import select
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.output import Output

from bot.cli.common import BIG_LOG, err
from bot.core import wording
from bot.core.answers import Answer, Notice, TriageAnswer
from bot.core.oncall import Oncall
from bot.render import plain

END_OF_PASTE = "."
_COMMAND = re.compile(r"/[a-z]+(?:\s|$)")
PROMPT = "oncall> "
PASTE_PROMPT = "paste> "
BURST_S = 0.02  # keys this close behind an Enter are one paste
# One vote per person and answer (store.record_feedback): a second one replaces the first.
VOTE_REPLACED = "Your earlier vote on this answer ({was}) was replaced: one vote per answer."
UNDONE = " What it taught me is undone."
# wording.HELP says how a piped paste ends; in a terminal the paste itself ends it.
HELP_TERMINAL = "\n".join(
    [
        *(line for line in wording.HELP.splitlines() if not line.startswith("Or paste")),
        "Or paste a log: the paste is the message, no need to end it. Enter sends what you",
        "typed; the up arrow brings back earlier lines (kept between runs).",
    ]
)


class Console:
    def __init__(self, oncall: Oncall, out: TextIO, user: str | None = None) -> None:
        self.oncall = oncall
        self.out = out
        self.user = f"console:{user or getpass.getuser()}"
        self.last: TriageAnswer | None = None
        self.votes: dict[int, tuple[str, str | None]] = {}  # answer id: this user's vote
        self.help = wording.HELP

    def say(self, answer: Answer | str) -> None:
        text = answer if isinstance(answer, str) else plain.render(answer)
        self.out.write(text.rstrip("\n") + "\n\n")
        self.out.flush()

    def triage(self, text: str) -> None:
        waiting = (
            err.status(f"reading a {len(text) / 1e6:.1f} MB log")
            if len(text) > BIG_LOG
            else nullcontext()
        )
        with waiting:  # a big paste takes seconds: say so (on a terminal, on stderr)
            answer = self.oncall.triage(text, source="console", asked_by=None)
        if isinstance(answer, TriageAnswer):
            self.last = answer
        self.say(answer)

    def command(self, line: str, paste: Callable[[], str]) -> bool:
        """Run one command (`paste` reads what `/triage` alone asks for); False: quit."""
        name, *more = line.strip().split(maxsplit=1)
        rest = more[0].strip() if more else ""
        if name in ("/quit", "/exit"):
            return False
        if name == "/help":
            self.say(self.help)
        elif name == "/triage":
            self.triage(rest or paste())
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
            self.say(Notice(f"Unknown command {name}.\n\n{self.help}", problem=True))
        return True

    def _feedback(self, vote: str, choice: str | None) -> None:
        if self.last is None:
            self.say(Notice("There is no answer yet to give feedback on.", problem=True))
            return
        entry_id = _entry_choice(choice, self.oncall) if choice else None
        if choice and entry_id is None and choice.lower() not in ("0", "none"):
            self.say(Notice(f"No entry {choice!r}. /notthis alone lists them.", problem=True))
            return
        answer_id = self.last.answer_id
        said = self.oncall.feedback(answer_id, self.user, vote, entry_id)
        if not said.problem:
            was = self.votes.get(answer_id)
            self.votes[answer_id] = (vote, entry_id)
            if was is not None and was != (vote, entry_id):
                said = Notice(f"{said.text}\n{self._replaced(*was)}")
        self.say(said)

    def _replaced(self, vote: str, entry_id: str | None) -> str:
        if vote == "helpful":
            return VOTE_REPLACED.format(was="helpful")
        if entry_id is None:
            return VOTE_REPLACED.format(was="no entry fits")
        title = next((e.title for e in self.oncall.entries() if e.id == entry_id), entry_id)
        return VOTE_REPLACED.format(was=f"it is “{title}”") + UNDONE


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
    """Plain lines: a pipe, a file (`console < vllm.log`), or a terminal with no editing."""
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
            if not console.command(line, lambda: _paste(lines)):
                return
        else:
            console.triage(line + _paste(lines))


def session(
    history: Path | None, input: Input | None = None, output: Output | None = None
) -> PromptSession[str]:
    """A prompt with line editing and `history` (kept across runs when it can be written)."""
    kept: History = InMemoryHistory()
    if history is not None:
        try:
            history.parent.mkdir(parents=True, exist_ok=True)
            history.touch()
            kept = FileHistory(str(history))
        except OSError:
            pass  # a read-only home: editing still works, history lasts this run
    return PromptSession(history=kept, key_bindings=_paste_keys(), input=input, output=output)


def _paste_keys() -> KeyBindings:
    keys = KeyBindings()

    @keys.add(Keys.BracketedPaste)
    def pasted(event: KeyPressEvent) -> None:
        # The terminal marks a paste: one that ends a line is the whole message, sent now.
        text = event.data.replace("\r\n", "\n").replace("\r", "\n")
        event.current_buffer.insert_text(text.rstrip("\n"))
        if "\n" in text.rstrip("\n") and text.endswith("\n"):
            event.current_buffer.validate_and_handle()

    @keys.add(Keys.Enter)
    @keys.add(Keys.ControlJ)
    def enter(event: KeyPressEvent) -> None:
        # A terminal that does not mark pastes: keys that came in with this Enter, or are
        # already waiting, are the rest of a paste, so it is a line break; the burst's last
        # Enter sends it. No person types the next key within BURST_S of an Enter.
        app = event.app
        if app.key_processor.input_queue or _waiting(app.input):
            event.current_buffer.insert_text("\n")
        else:
            event.current_buffer.validate_and_handle()

    return keys


def _waiting(keyboard: Input) -> bool:
    """More input is there already (pastes come in reads of 1024 bytes)."""
    try:
        ready, _, _ = select.select([keyboard.fileno()], [], [], BURST_S)
    except (OSError, ValueError, NotImplementedError):  # no file descriptor to watch
        return False
    return bool(ready)


def run_terminal(oncall: Oncall, out: TextIO, prompt: PromptSession[str]) -> None:
    """A terminal: line editing, history (up arrow), and a paste is one message."""
    console = Console(oncall, out)
    console.help = HELP_TERMINAL
    console.say(console.help)

    def ask(message: str) -> str | None:
        while True:
            try:
                return prompt.prompt(message)
            except KeyboardInterrupt:  # Ctrl-C drops the line, as in a shell
                continue
            except EOFError:  # Ctrl-D
                return None

    while (text := ask(PROMPT)) is not None:
        if not text.strip() or text.strip() == END_OF_PASTE:
            continue
        if _is_command(text):
            if not console.command(text, lambda: ask(PASTE_PROMPT) or ""):
                return
        else:
            console.triage(text)
