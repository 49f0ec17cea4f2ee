"""A run's answer checks as people see them: in Slack the replies in a code block (long ones
cut with a note) and the checks as a small table; the terminal says the same lines."""

from __future__ import annotations

import json
from typing import Any

from bot.core.run_answers import answers_heading, check_table, reply_lines
from bot.render.run_blocks import verdict_blocks
from runners import JobSpec, Phase, RunResult, Status
from runners.run.answer_report import CheckOutcome, ProbeAnswer, judge
from runners.store.records import Job


def probe(
    name: str, reply: str, *failed: tuple[str, str, float | None], **more: Any
) -> ProbeAnswer:
    bad = {n: (d, r) for n, d, r in failed}
    checks = [
        CheckOutcome(
            name=n,
            ok=n not in bad,
            detail=bad.get(n, ("", None))[0],
            ratio=bad.get(n, ("", None))[1],
        )
        for n in ("empty", "artifacts", "repetition", "truncated")
    ]
    fields: dict[str, Any] = {
        "probe": name, "endpoint": "chat", "prompt": f"prompt of {name}", "max_tokens": 16,
        "http_status": 200, "reply": reply, "finish_reason": "length", "completion_tokens": 16,
        "checks": checks,
    }  # fmt: skip
    return ProbeAnswer(**(fields | more))


def result_with(*probes: ProbeAnswer, dummy: bool = False) -> RunResult:
    report = judge(list(probes), dummy_weights=dummy)
    status = "failed" if report.failed else "passed"
    return RunResult(playbook="smoke", status=status, phase="text smoke", answers=report)


def job_of(result: RunResult) -> Job:
    status = Status.FAILED if result.status == "failed" else Status.PASSED
    return Job(
        id=7, spec=JobSpec(playbook="smoke", model="org/m"), status=status, phase=Phase.DONE,
        stage=None, agent="npu", cancel_requested=False, result=result, log_tail=(),
        requested_by="U1", parent_id=None, origin=None,
        version=3, created_at=None, updated_at=None,  # type: ignore[arg-type]
    )  # fmt: skip


COMMAS = ("repetition", "token ',' repeated 16 times covers 100% of the reply", 1.0)


def test_slack_shows_each_prompt_and_reply_in_a_code_block_and_the_checks_as_a_table() -> None:
    result = result_with(probe("one-word", "," * 16, COMMAS), probe("echo", "blue river stone"))
    blocks = verdict_blocks(job_of(result), None)
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    [replies] = [t for t in texts if "Answer checks: failed" in t]
    assert "token ','" in replies
    code = replies.split("```")[1]
    assert "prompt of one-word" in code
    assert "',,,,,,,,,,,,,,,,'" in code and "'blue river stone'" in code
    [table] = [t for t in texts if t.startswith("```probe")]
    rows = table.strip("`").splitlines()
    assert rows[0].split() == ["probe", "endpoint", "empty", "artifacts", "repetition", "truncated"]
    assert rows[1].split() == ["one-word", "chat", "ok", "ok", "FAIL", "100%", "ok"]
    assert rows[2].split() == ["echo", "chat", "ok", "ok", "ok", "ok"]


def test_a_long_reply_is_cut_with_a_note_saying_how_much() -> None:
    long = probe("one-word", "word " * 400, cut_chars=50_000)
    lines = reply_lines(result_with(long))
    assert "(cut: " in lines[1]
    shown_more = int(lines[1].split("(cut: ")[1].split()[0])
    assert shown_more == 50_000 + 2000 - 200  # what the result left out, and what we did
    assert len(lines[1]) < 400


def test_a_reply_with_slack_markup_or_a_fence_cannot_break_the_message() -> None:
    hostile = probe("one-word", "<!channel> ``` *bold* <@U1>", ("artifacts", "x", None))
    blocks = verdict_blocks(job_of(result_with(hostile)), None)
    shown = json.dumps(blocks)
    assert "<!channel>" not in shown and "<@U1>" not in shown
    [replies] = [
        b["text"]["text"] for b in blocks if "Answer checks" in b.get("text", {}).get("text", "")
    ]
    assert replies.count("```") == 2  # the reply's own fence does not end the block


def test_dummy_weights_say_the_checks_are_shown_not_judged() -> None:
    result = result_with(probe("one-word", " l e l e l e l e", COMMAS), dummy=True)
    assert result.status == "passed"
    heading = answers_heading(result) or ""
    assert "not judged" in heading and "dummy weights" in heading
    assert any("FAIL" in row for row in check_table(result))  # the measurement is still shown


def test_a_run_that_asked_nothing_shows_no_answer_checks() -> None:
    result = RunResult(playbook="smoke", status="failed", phase="starting")
    assert answers_heading(result) is None and check_table(result) == []
    assert "Answer checks" not in json.dumps(verdict_blocks(job_of(result), None))
