"""The console adapter: the same commands and wording as Slack, over stdin and stdout."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from bot.cli import console
from bot.core import wording
from bot.core.oncall import Oncall

ROOT = Path(__file__).parents[2]
CRASH_LOG = (ROOT / "examples" / "first-request-crash.log").read_text()


def _run(oncall: Oncall, stdin: str) -> str:
    out = io.StringIO()
    console.run(oncall, io.StringIO(stdin), out)
    return out.getvalue()


def test_paste_ended_by_a_dot_is_triaged(oncall: Oncall) -> None:
    out = _run(oncall, CRASH_LOG + "\n.\n/runbook hccl bind\n")
    assert "Runbook match: MLA attention runtime failures after ready" in out
    assert "RuntimeError: call AtbRingMLAGetWorkspaceSize failed" in out
    assert "  1. Reproduce with one minimal text request" in out
    assert "Server fails to bind on `:8000`" in out  # the lookup after the paste ran too


def test_paste_until_end_of_input(oncall: Oncall) -> None:
    out = _run(oncall, CRASH_LOG)
    assert out.count("Runbook match:") == 1


def test_triage_command_no_match_and_bad_input(oncall: Oncall) -> None:
    out = _run(
        oncall,
        "/triage ld.lld: error: undefined symbol: pthread_atfork_v2\n/triage\n\x00\x01\x02\x03" * 1
        + "\n.\n",
    )
    assert wording.NO_MATCH_HEAD in out
    assert "I could not read that" in out


def test_feedback_in_the_console_teaches_the_bot(oncall: Oncall) -> None:
    paste = "RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (NPU 0; 60.96 GiB total)"
    again = "RuntimeError: NPU out of memory. Tried to allocate 11.50 GiB (NPU 5; 60.96 GiB total)"
    entries = [e.id for e in oncall.entries()]
    n = entries.index("config-max-length-works-on-paper-but-not-in-runtime") + 1
    out = _run(oncall, f"/triage {paste}\n/notthis\n/notthis {n}\n/triage {again}\n")
    first, _, later = out.partition("Thanks: I will answer")
    assert wording.NO_MATCH_HEAD in first
    assert wording.PICKER_TITLE in first  # /notthis alone shows the picker
    assert "Runbook match: Config max length works on paper" in later
    assert oncall.store.feedback_counts() == {"not_this": 1}


def test_unknown_commands_and_feedback_without_an_answer(oncall: Oncall) -> None:
    out = _run(oncall, "/frobnicate\n/helpful\n/notthis 999\n/quit\n/runbook\n")
    assert "Unknown command /frobnicate" in out
    assert "There is no answer yet" in out
    assert "The runbook has" not in out  # nothing after /quit runs


@pytest.mark.slow
def test_main_command_without_slack_tokens_lands_in_the_console(
    tmp_path: Path, cache_dir: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ONCALL_"))}
    env |= {
        "ONCALL_CACHE_DIR": str(cache_dir),
        "ONCALL_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite",
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ascend-oncall"))],
        input="/runbook 507903\n/quit\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "this is the console" in done.stderr
    assert "ACL graph capture fails (507903)" in done.stdout


def test_a_log_whose_first_line_is_a_path_is_a_paste_not_a_command(oncall: Oncall) -> None:
    log = (
        "/usr/local/lib/python3.11/site-packages/torch_npu/__init__.py:248: UserWarning: x\n"
        + CRASH_LOG
    )
    out = _run(oncall, log + "\n.\n.\n\n.\n")
    assert "Unknown command" not in out
    assert out.count("Runbook match: MLA attention runtime failures after ready") == 1
    assert out.count("(answer ") == 1  # stray "." lines are not pastes


def test_a_vote_that_replaces_an_earlier_one_says_so(oncall: Oncall) -> None:
    paste = "RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (NPU 0; 60.96 GiB total)"
    second = oncall.entries()[1].title
    out = _run(oncall, f"/triage {paste}\n/notthis 2\n/helpful\n/helpful\n")
    assert out.count("Your earlier vote on this answer") == 1  # the same vote again: nothing
    assert f"(it is “{second}”) was replaced" in out
    assert "What it taught me is undone." in out
    assert oncall.store.feedback_counts() == {"helpful": 1}


class _Screen(io.StringIO):
    """The terminal's screen; the keyboard is unplugged once an answer is shown, so the
    console's next prompt ends (as Ctrl-D would)."""

    def __init__(self, keyboard: PipeInput) -> None:
        super().__init__()
        self.keyboard = keyboard

    def write(self, text: str) -> int:
        if "(answer " in text:
            self.keyboard.close()
        return super().write(text)


def _terminal(oncall: Oncall, keys: str, history: Path) -> str:
    with create_pipe_input() as keyboard:
        screen = _Screen(keyboard)
        keyboard.send_text(keys)
        prompt = console.session(history, input=keyboard, output=DummyOutput())
        console.run_terminal(oncall, screen, prompt)
    return screen.getvalue()


def test_in_a_terminal_a_paste_is_one_message_with_no_final_dot(
    oncall: Oncall, tmp_path: Path
) -> None:
    history = tmp_path / "data" / "console-history"
    out = _terminal(oncall, "\x1b[200~" + CRASH_LOG.rstrip("\n") + "\n\x1b[201~", history)
    assert out.count("Runbook match: MLA attention runtime failures after ready") == 1
    assert out.count("(answer ") == 1
    assert "RuntimeError: call AtbRingMLAGetWorkspaceSize failed" in history.read_text()


def test_a_terminal_that_does_not_mark_pastes_still_sends_one_message(
    oncall: Oncall, tmp_path: Path
) -> None:
    # Such a terminal sends each pasted line break as an Enter, all in one burst.
    out = _terminal(oncall, CRASH_LOG.replace("\n", "\r"), tmp_path / "history")
    assert out.count("(answer ") == 1
    assert "Runbook match: MLA attention runtime failures after ready" in out
