"""The autopilot from Slack, end to end: signed /autopilot and button clicks -> the
dispatcher -> the coordinator on loopback -> a real agent process -> the fake `vllm`; one
ladder message in the thread, updated in place, ending with the working config. With
approval on, each relaunch waits for an allowed click; a bot restarted mid-ladder carries
the ladder on, once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.oncall import Oncall
from bot.render import ladder_blocks, run_blocks
from bot.slack.app import build_app, connect_deliveries
from bot.slack.reporter import Reporter
from bot.slack.runs import Dispatcher
from runners import Status
from tests.bot.conftest import FORM, dispatch, slack_settings
from tests.bot.test_slack_runs import Runs, _blocks, _buttons, _text, _wait_verdict
from tests.fakes import slack_payloads as p
from tests.fakes.slack import Call, FakeSlack

MALLORY = "U0MALLORY"  # in the channel, not among those who may dispatch


def _bot(fake: FakeSlack, oncall: Oncall, url: str, tmp: Path, **extra: Any) -> Iterator[Runs]:
    settings = slack_settings(fake, url, dispatch_users=[p.USER], lease_s=5, **extra)
    r = Runs(settings, oncall, tmp)
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def runs(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str, tmp_path: Path
) -> Iterator[Runs]:
    yield from _bot(fake_slack, oncall, database_url, tmp_path)


@pytest.fixture
def approving(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str, tmp_path: Path
) -> Iterator[Runs]:
    yield from _bot(fake_slack, oncall, database_url, tmp_path, autopilot_approve="each")


def _ladder_posts(fake: FakeSlack, thread: str) -> list[Call]:
    return [
        c
        for c in fake.of("chat.postMessage")
        if c.args.get("thread_ts") == thread and _text(_blocks(c)).startswith("AUTOPILOT")
    ]


def _ladder(fake: FakeSlack, thread: str, says: str, timeout: float = 60) -> Call:
    """The ladder message's latest version once it says `says` (posted, then updated)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        posts = _ladder_posts(fake, thread)
        if posts:
            ts = posts[0].response["ts"]
            versions = [posts[0], *(c for c in fake.of("chat.update") if c.args["ts"] == ts)]
            if says in _text(_blocks(versions[-1])):
                return versions[-1]
        time.sleep(0.1)
    raise AssertionError(f"the ladder in {thread} never said {says!r}")


def _start(runs: Runs, fake: FakeSlack, text: str) -> str:
    slash = p.slash("/autopilot", text, f"{fake.url}/respond/1")
    assert dispatch(runs.app, slash, FORM).status == 200
    (status,) = fake.wait_for("chat.postMessage")
    return str(status.response["ts"])


def _click(runs: Runs, fake: FakeSlack, ladder: Call, action: str, user: str = p.USER) -> None:
    (found,) = [b for b in _buttons(_blocks(ladder)) if b["action_id"] == action]
    message = {"ts": ladder.args["ts"] if "ts" in ladder.args else ladder.response["ts"]}
    body = p.button(action, found["value"], message, f"{fake.url}/r/9", user=user)
    assert dispatch(runs.app, body, FORM).status == 200


def _wait_job(runs: Runs, job_id: int, *statuses: Status, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = runs.store.job(job_id)
        if job is not None and (not statuses or job.status in statuses):
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never became {statuses}")


def test_autopilot_from_slack_climbs_to_a_working_config(runs: Runs, fake_slack: FakeSlack) -> None:
    runs.start_agent("a2")
    thread = _start(runs, fake_slack, "fake/capture-507903 on a2")
    shown = _text(_blocks(_ladder(fake_slack, thread, "AUTOPILOT WORKS")))
    assert "AUTOPILOT WORKS: fake/capture-507903" in shown
    rung_1, rung_2, rung_3 = (shown.split(f"\n*{n}. ")[1].split("\n*")[0] for n in (1, 2, 3))
    assert rung_1.startswith("`as asked`* — failed, phase starting (capturing graphs)")
    assert "error code is 507903" in rung_1
    assert "Runbook match: ACL graph capture fails (507903) (" in rung_1
    assert "entry `acl-graph-capture-fails-507903`)" in rung_1
    assert "`HCCL_OP_EXPANSION_MODE=AIV --load-format dummy`* · dummy weights — passed" in rung_2
    assert rung_3.startswith("`HCCL_OP_EXPANSION_MODE=AIV`* — passed")
    assert "confirm on the real weights" in rung_3
    command = shown.split("*Working config*\n```")[1].split("```")[0]
    assert command == "HCCL_OP_EXPANSION_MODE=AIV vllm serve fake/capture-507903"
    assert "*What each change bought*" in shown and "confirm on the real weights: passed" in shown
    assert "ruled out: smoke" in shown
    assert len(_ladder_posts(fake_slack, thread)) == 1, "one ladder message, updated in place"
    first, second, third = runs.store.job(1), runs.store.job(2), runs.store.job(3)
    assert first and second and third and second.parent_id == 1 and third.parent_id == 2
    assert second.spec.fallback == "hccl-aiv" and second.spec.labels == ("a2",)
    assert second.spec.args == ("--load-format", "dummy") and third.spec.args == ()
    assert runs.store.job(4) is None, "the ladder stops where a config works"
    audit = [(a["source"], a["allowed"]) for a in runs.store.dispatches()]
    assert ("autopilot", True) in audit and ("slash", True) in audit


def test_a_second_ladder_for_the_same_model_and_host_is_refused(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.store.add_agent("npu-01", ["a2"])  # registered, not started: rung 1 stays queued
    first = dispatch(
        runs.app, p.slash("/autopilot", "fake/healthy on a2", f"{fake_slack.url}/r/1"), FORM
    )
    assert first.status == 200 and first.body == ""
    again = dispatch(
        runs.app, p.slash("/autopilot", "fake/healthy on a2", f"{fake_slack.url}/r/2"), FORM
    )
    assert "running already: job 1" in str(again.body)
    assert runs.store.job(2) is None
    other = dispatch(
        runs.app, p.slash("/autopilot", "fake/other on a2", f"{fake_slack.url}/r/3"), FORM
    )
    assert other.body == "" and runs.store.job(2) is not None, "another model climbs alongside"


def test_find_a_working_config_under_a_failed_verdict_starts_the_ladder_there(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.start_agent()
    dispatch(runs.app, p.slash("/smoke", "fake/arch-unknown", f"{fake_slack.url}/r/1"), FORM)
    (status,) = fake_slack.wait_for("chat.postMessage")
    thread = status.response["ts"]
    verdict = _wait_verdict(fake_slack, thread)
    (ladder,) = [b for b in _buttons(_blocks(verdict)) if "autopilot" in b["value"]]
    assert ladder["text"]["text"] == "Find a working config"
    message = {"ts": verdict.response["ts"], "thread_ts": thread, "blocks": _blocks(verdict)}
    dispatch(
        runs.app,
        p.button(run_blocks.RUN_ACTION, ladder["value"], message, f"{fake_slack.url}/r/2"),
        FORM,
    )
    (said,) = fake_slack.wait_for("chat.postEphemeral")
    assert "Autopilot: no relaunch helps" in said.args["text"], "an unknown architecture"
    assert runs.store.job(2) is None


def test_each_relaunch_waits_for_a_click_from_someone_allowed(
    approving: Runs, fake_slack: FakeSlack
) -> None:
    runs = approving
    runs.start_agent()
    thread = _start(runs, fake_slack, "fake/capture-507903")
    waiting = _ladder(fake_slack, thread, "Rung 2 waits for approval")
    shown = _text(_blocks(waiting))
    dummy_line = "HCCL_OP_EXPANSION_MODE=AIV vllm serve fake/capture-507903 --load-format dummy"
    assert "AUTOPILOT WAITING FOR APPROVAL" in shown and f"```{dummy_line}```" in shown
    run, stop = _buttons(_blocks(waiting))
    assert run["text"]["text"] == "Run rung 2" and stop["text"]["text"] == "Stop here"
    assert run["confirm"]["text"]["text"] == dummy_line, "the button shows the exact command"
    assert runs.store.job(2) is None, "nothing runs before the click"

    _click(runs, fake_slack, waiting, ladder_blocks.RUN_ACTION, user=MALLORY)
    (refused,) = fake_slack.wait_for("chat.postEphemeral")
    assert (
        refused.args["user"] == MALLORY and "not among the people allowed" in refused.args["text"]
    )
    fake_slack.quiet_for(0.5)
    assert runs.store.job(2) is None
    (refusal,) = [a for a in runs.store.dispatches() if not a["allowed"]]
    assert (refusal["source"], refusal["user"]) == ("button", MALLORY), "in the audit"

    _click(runs, fake_slack, waiting, ladder_blocks.RUN_ACTION)
    _wait_job(runs, 2)
    _click(runs, fake_slack, waiting, ladder_blocks.RUN_ACTION)  # the same button, again
    (_, again) = fake_slack.wait_for("chat.postEphemeral", count=2)
    assert "answered already" in again.args["text"]
    job = runs.store.job(2)
    assert job and job.parent_id == 1 and job.requested_by == p.USER

    confirm = _ladder(fake_slack, thread, "Rung 3 waits for approval")
    real_line = "HCCL_OP_EXPANSION_MODE=AIV vllm serve fake/capture-507903"
    assert f"```{real_line}```" in _text(_blocks(confirm)), "the confirm on the real weights"
    _click(runs, fake_slack, confirm, ladder_blocks.STOP_ACTION)
    stopped = _text(_blocks(_ladder(fake_slack, thread, "AUTOPILOT STOPPED")))
    assert f"stopped before rung 3: Stop here was clicked (by <@{p.USER}>)" in stopped
    assert not _buttons(_blocks(_ladder(fake_slack, thread, "AUTOPILOT STOPPED")))
    fake_slack.quiet_for(1.0)
    assert runs.store.job(3) is None
    assert len(_ladder_posts(fake_slack, thread)) == 1


def test_a_bot_restarted_mid_ladder_carries_it_on_once(
    runs: Runs,
    fake_slack: FakeSlack,
    oncall: Oncall,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rung 2 runs while the bot stops and a new one starts on the same database: the new
    bot posts rung 2's verdict, dispatches the confirm once, and updates the same ladder
    message."""
    monkeypatch.setenv("FAKE_VLLM_REPLY_DELAY_S", "1.0")  # each rung answers slowly
    runs.start_agent()
    thread = _start(runs, fake_slack, "fake/capture-507903")
    _wait_job(runs, 2, Status.RUNNING)
    runs.stop.set()  # the bot stops: its reporter ends its round, its workers close
    time.sleep(0.3)
    runs.deliveries.close()
    running = runs.store.job(2)
    assert running is not None and not running.status.final, "rung 2 outlives the bot"
    (posted,) = _ladder_posts(fake_slack, thread)

    settings = slack_settings(fake_slack, database_url, dispatch_users=[p.USER], lease_s=5)
    runs.deliveries = connect_deliveries(settings, oncall)
    runs.dispatcher = Dispatcher(settings, runs.store, runs.deliveries)
    runs.app = build_app(settings, oncall, deliveries=runs.deliveries, dispatcher=runs.dispatcher)
    runs.stop = threading.Event()
    reporter = Reporter(runs.dispatcher, 0.1)
    threading.Thread(target=reporter.run, args=(runs.stop,), daemon=True).start()

    final = _ladder(fake_slack, thread, "AUTOPILOT WORKS")
    assert final.args["ts"] == posted.response["ts"], "the same message, updated"
    shown = _text(_blocks(final))
    assert "*2. `HCCL_OP_EXPANSION_MODE=AIV --load-format dummy`*" in shown
    assert "*3. `HCCL_OP_EXPANSION_MODE=AIV`* — passed" in shown
    fake_slack.quiet_for(1.0)
    third = runs.store.job(3)
    assert third is not None and third.parent_id == 2 and runs.store.job(4) is None, "once"
    assert len(_ladder_posts(fake_slack, thread)) == 1
    autopilot = [a for a in runs.store.dispatches() if a["source"] == "autopilot"]
    assert len(autopilot) == 2, json.dumps(autopilot, default=str)
