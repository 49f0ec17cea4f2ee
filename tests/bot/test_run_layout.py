"""A run's verdict is laid out once (bot.core.run_layout): the Slack thread, `ascend-oncall
run` and `jobs show` say the same things in the same order, a runbook match in one wording."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rich.console import Console

from bot.cli import runs
from bot.core.run_layout import job_parts, run_parts, runbook_part
from bot.render.job_view import job_lines
from bot.render.ladder_blocks import LadderView, RungView, ladder_blocks
from bot.render.run_blocks import RUN_ACTION, verdict_blocks
from runners import (
    Done,
    FirstError,
    JobSpec,
    NextStep,
    Phase,
    RunbookMatch,
    RunResult,
    RunTriage,
    Status,
)
from runners.doctor import DoctorReport, Finding
from runners.store.records import Job
from tests.bot.test_run_answers import COMMAS, probe, result_with

TRIAGE = RunTriage(
    verdict="match",
    matches=[
        RunbookMatch(
            entry_id="acl-graph-capture-fails-507903",
            title="ACL graph capture fails (507903)",
            confidence="high",
            actions=["Prefer HCCL_OP_EXPANSION_MODE=AIV", "Retry with eager"],
        )
    ],
)


def _everything() -> RunResult:
    """A failed run with every part of a verdict."""
    answered = result_with(probe("one-word", "," * 16, COMMAS))
    doctor = DoctorReport(
        model_dir="/models/m",
        findings=(
            Finding(
                check="architecture", severity="warning", message="FooForCausalLM is odd",
                evidence=("config.json architectures: FooForCausalLM",),
            ),
        ),
    )  # fmt: skip
    return answered.model_copy(
        update={
            "status": "failed",
            "phase": "starting",
            "verdict": "graph capture failed",
            "ready_s": 20.14,
            "timings": {"starting": 12.5, "preflight": 0.01},
            "evidence": {"graph": "capturing"},
            "first_error": FirstError(signature="RuntimeError: ErrCode 507903"),
            "triage": TRIAGE,
            "doctor": doctor,
            "environment": {"packages": {"torch": {"version": "2.1.0", "path": "/opt/torch"}}},
            "cleanup": "one leftover server",
            "next": NextStep(
                playbook="eager", reason="eager may avoid the capture", alternatives=["hccl-aiv"]
            ),
            "notes": ["a note from the host"],
            "log_tail": ["INFO loading", "ERROR last words of the server"],
        }
    )


def _job(result: RunResult) -> Job:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Job(
        id=7, spec=JobSpec(playbook="smoke", model="org/m"), status=Status(result.status),
        phase=Phase.DONE, stage=None, agent="npu", cancel_requested=False, result=result,
        log_tail=(), requested_by="U1", parent_id=None, origin=None, version=3,
        created_at=at, updated_at=at,
    )  # fmt: skip


SAID = [  # in this order, in every medium
    "graph capture failed",
    "ready after 20.1 s",
    "time per phase: starting 12.5 s",
    "capturing",
    "RuntimeError: ErrCode 507903",
    "Runbook match: ACL graph capture fails (507903)",
    "acl-graph-capture-fails-507903",
    "Prefer HCCL_OP_EXPANSION_MODE=AIV",
    "Doctor: 0 error(s), 1 warning(s) in /models/m",
    "FooForCausalLM is odd",
    "Answer checks: failed",
    "prompt of one-word",
    "torch 2.1.0",
    "Host not clean after the run: one leftover server",
    "eager may avoid the capture",
    "a note from the host",
    "ERROR last words of the server",
]


def test_slack_run_and_jobs_show_say_the_same_things_in_the_same_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = _everything()
    job = _job(result)
    console = Console(width=300, record=True)
    monkeypatch.setattr(runs, "out", console)
    runs._print(result)
    shown = {
        "slack": json.dumps(verdict_blocks(job, None), ensure_ascii=False),
        "run": console.export_text(),
        "jobs show": "\n".join(line.plain for line in job_lines(job)),
    }
    for medium, text in shown.items():
        where = [text.find(s) for s in SAID]
        assert -1 not in where, (medium, [s for s, w in zip(SAID, where, strict=True) if w < 0])
        assert where == sorted(where), (medium, "in the same order")
        # The next steps: buttons in Slack (below it all), lines in the terminal.
        assert "Run eager isolation" in text and "Run fallback hccl-aiv" in text, medium
        assert "preflight 0.0 s" not in text, "a phase under 0.05 s is not named"


def test_a_job_with_no_result_is_said_as_its_status() -> None:
    job = _job(RunResult(playbook="smoke", status="failed", phase="starting"))
    lost = Job(**{**job.__dict__, "status": Status.LOST, "result": None, "log_tail": ("a",)})
    head, log = job_parts(lost)
    assert (head.title, head.text) == ("lost", "the agent stopped heartbeating")
    assert log.lines == ("a",), "the tail it sent while it ran"
    assert [
        p.kind for p in run_parts(RunResult(playbook="smoke", status="passed", phase="done"))
    ] == ["head"]


def test_a_runbook_match_has_one_wording_in_the_verdict_and_the_ladder() -> None:
    match = runbook_part(TRIAGE)
    assert match is not None
    assert (match.title, match.text) == (
        "Runbook match: ACL graph capture fails (507903)",
        "high, entry `acl-graph-capture-fails-507903`",
    )
    likely = runbook_part(TRIAGE.model_copy(update={"verdict": "likely"}))
    assert likely is not None and likely.title.startswith("Likely runbook entry: ")
    said = "*Runbook match: ACL graph capture fails (507903)* (high, entry `acl-graph-capture"
    result = _everything()
    assert said in json.dumps(verdict_blocks(_job(result), None))
    spec = JobSpec(playbook="smoke", model="org/m")
    rung = RungView(7, spec, "as asked", "failed", result)
    done = Done("no_config", "no relaunch helps", None, ())
    ladder = json.dumps(ladder_blocks(LadderView(7, spec, [rung], done)))
    assert ladder.count("Runbook match: ACL graph capture fails (507903)") == 2  # rung, summary
    assert ladder.count("(high, entry `acl-graph-capture-fails-507903`)") == 2


def test_the_next_step_buttons_come_first_recommended_then_find_a_working_config() -> None:
    blocks = verdict_blocks(_job(_everything()), None)
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert blocks[-1] is actions
    texts = [(e["text"]["text"], e.get("style")) for e in actions["elements"]]
    assert texts == [
        ("Run eager isolation", "primary"),
        ("Run fallback hccl-aiv", None),
        ("Find a working config", None),
    ]
    values = [json.loads(e["value"]) for e in actions["elements"]]
    assert [v["next"] for v in values] == ["eager", "fallback:hccl-aiv", "autopilot"]
    assert all(e["action_id"] == RUN_ACTION for e in actions["elements"])
