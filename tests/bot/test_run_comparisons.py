"""Replies beside the known-good run's and the other mode's, as people see them: in Slack
a bold headline and both replies in a code block with where they part, the same lines in
the terminal; a next-step button never records known-good replies of another config."""

from __future__ import annotations

from pathlib import Path

from bot.core.run_answers import answers_heading, comparison_lines
from bot.render.run_blocks import verdict_blocks
from runners import FileBook, JobSpec, next_spec, settle_replies
from runners.run.comparisons import GRAPH_DIFFERS
from tests.bot.test_run_answers import job_of
from tests.runners.test_golden import CLEAN, run_of, spec


def test_slack_shows_graph_and_eager_replies_side_by_side_and_where_they_part(
    tmp_path: Path,
) -> None:
    book = FileBook.under(tmp_path)
    settle_replies(run_of(), spec(playbook="eager"), book)
    graph = settle_replies(run_of({**CLEAN, "arithmetic": "4 2 <b>"}), spec(), book)
    blocks = verdict_blocks(job_of(graph), None)
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert any(GRAPH_DIFFERS in t and "passed" in t for t in texts)  # the verdict says it
    [shown] = [t for t in texts if t.startswith(f"*{GRAPH_DIFFERS}")]
    assert "eager: '42'" in shown and "graph: '4 2 &lt;b&gt;'" in shown  # escaped for Slack
    assert "first difference at character 1: '2' vs ' 2 &lt;b&gt;'" in shown
    assert "alike: one-word (chat), echo (chat)" in shown


def test_the_terminal_says_what_changed_since_the_known_good_run(tmp_path: Path) -> None:
    book = FileBook.under(tmp_path)
    settle_replies(run_of(), spec(golden=True), book)
    later = settle_replies(run_of({**CLEAN, "echo": "river"}), spec("--dtype", "half"), book)
    [(headline, lines)] = comparison_lines(later)
    assert headline.startswith("answers differ from the known-good run of ")
    assert headline.endswith("(the runs differ in flags: --dtype half (known-good: none))")
    assert lines[:3] == [
        "echo via /v1/chat/completions: ask echo",
        "  known-good: 'blue river stone'",
        "  now:        'river'",
    ]


def test_a_next_step_button_does_not_record_known_good_replies() -> None:
    parent = JobSpec(playbook="smoke", model="org/m", record_golden=True)
    assert not next_spec(parent, "eager").record_golden
    assert not next_spec(parent, "fallback:hccl-aiv").record_golden


def test_a_dummy_weights_run_whose_replies_moved_on_the_same_config_is_headed_failed(
    tmp_path: Path,
) -> None:
    book = FileBook.under(tmp_path)
    settle_replies(run_of(), spec(golden=True), book)
    moved = run_of({**CLEAN, "echo": "blue blue blue blue"})
    assert moved.answers is not None
    moved.answers.judged, moved.answers.not_judged = False, "not judged: dummy weights"
    settled = settle_replies(moved, spec(), book)
    assert settled.status == "failed"
    heading = answers_heading(settled) or ""
    assert heading.startswith("Answer checks: failed: answers differ from the known-good run")
    assert heading.endswith(": echo (chat)")
