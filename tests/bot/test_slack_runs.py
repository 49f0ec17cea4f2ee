"""Runner jobs from Slack, end to end: a signed /smoke or button click -> the dispatcher ->
the coordinator (real HTTP on loopback) -> a real agent process -> the fake `vllm` -> the
status message updated in place and the verdict, with its next step, in the thread."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from slack_bolt import App

from bot.core.oncall import Oncall
from bot.render import run_blocks
from bot.settings import Settings
from bot.slack.app import build_app, connect_deliveries
from bot.slack.http import listen
from bot.slack.reporter import Reporter
from bot.slack.runs import Dispatcher
from bot.slack.threads import origin
from runners import Job, JobSpec, RunResult, Status
from runners.coordinator import coordinator_app
from runners.store.jobstore import JobStore, open_jobs
from tests.bot.conftest import FORM, dispatch, slack_settings
from tests.doctor.conftest import edit_config, make_checkpoint
from tests.fakes import slack_payloads as p
from tests.fakes.slack import Call, FakeSlack
from tests.runners.conftest import FAKE_CMD

EXE = str(Path(sys.executable).with_name("ascend-oncall"))


def _text(blocks: list[dict[str, Any]]) -> str:
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            out.append(e["text"]["text"] if isinstance(e.get("text"), dict) else e.get("text", ""))
    return "\n".join(out)


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def _in_slack(runs: Runs, posted_ts: str | None = None) -> Job:
    """A job asked for in #C0TEAM; with `posted_ts`, its status message is posted."""
    job = runs.store.submit(
        JobSpec(playbook="smoke", model="org/m"), origin=origin("C0TEAM", None, None)
    )
    if posted_ts is not None:
        assert runs.dispatcher.threads.claim_post(job) is not None
        runs.dispatcher.threads.set_message(job.id, posted_ts)
    return job


class Runs:
    """The bot with runner jobs on, a coordinator on loopback and one agent process."""

    def __init__(self, settings: Settings, oncall: Oncall, tmp: Path) -> None:
        self.tmp = tmp
        self.store: JobStore = open_jobs(settings.database_url, settings.lease_s)
        self.deliveries = connect_deliveries(settings, oncall)
        self.dispatcher = Dispatcher(settings, self.store, self.deliveries)
        self.app: App = build_app(
            settings, oncall, deliveries=self.deliveries, dispatcher=self.dispatcher
        )
        sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(coordinator_app(self.store), log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True).start()
        self.stop = threading.Event()
        reporter = Reporter(self.dispatcher, 0.1)
        reporter.min_update_s = 0.0  # the fake starts in half a second: show every stage
        threading.Thread(target=reporter.run, args=(self.stop,), daemon=True).start()
        self.agent: subprocess.Popen[bytes] | None = None

    def start_agent(self, *labels: str, model_roots: str = "") -> None:
        token = self.store.add_agent("npu-01", list(labels) or None)
        env = {
            **os.environ,
            "ONCALL_MODEL_ROOTS": model_roots,
            "ONCALL_RUNNER_DIR": str(self.tmp / "runner"),
            "ONCALL_VLLM_CMD": " ".join(FAKE_CMD),
            "ONCALL_RUNNER_PORT": "0",
            "ONCALL_SETTLE_S": "0.3",
            "FAKE_VLLM_TIME_SCALE": "0.1",
            "ONCALL_RUNNER_PASS_ENV": "FAKE_VLLM_*",  # the fake's knobs reach the server
        }
        args = [EXE, "runner", "--server", self.url, "--token", token, "--heartbeat", "0.5"]
        args += [a for label in labels for a in ("--label", label)]
        with (self.tmp / "agent.log").open("ab") as log:
            self.agent = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(20)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
        self.stop.set()
        self.server.should_exit = True
        self.deliveries.close()


@pytest.fixture
def runs(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str, tmp_path: Path
) -> Iterator[Runs]:
    settings = slack_settings(fake_slack, database_url, dispatch_users=[p.USER], lease_s=5)
    r = Runs(settings, oncall, tmp_path)
    try:
        yield r
    finally:
        r.close()


def _verdicts(fake: FakeSlack, thread: str) -> list[Call]:
    return [
        c
        for c in fake.of("chat.postMessage")
        if c.args.get("thread_ts") == thread and "Job" not in _text(c.args.get("blocks") or [])[:10]
    ]


def _wait_verdict(fake: FakeSlack, thread: str, count: int = 1, timeout: float = 40) -> Call:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            c
            for c in _verdicts(fake, thread)
            if c.args.get("blocks", [{}])[0].get("type") == "header"
        ]
        if len(found) >= count:
            return found[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"no verdict in thread {thread}: {[c.method for c in fake.calls]}")


def _blocks(call: Call) -> list[dict[str, Any]]:
    blocks = call.args["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def test_smoke_from_slack_to_verdict_and_the_next_step_button(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.start_agent("a2")
    response = dispatch(
        runs.app,
        p.slash("/smoke", "fake/graph-only-mla on a2", f"{fake_slack.url}/respond/1"),
        FORM,
    )
    assert response.status == 200 and response.body == ""
    (status,) = fake_slack.wait_for("chat.postMessage")
    assert "Job 1" in _text(_blocks(status)) and "/smoke fake/graph-only-mla on a2" in _text(
        _blocks(status)
    )
    thread = status.response["ts"]

    verdict = _wait_verdict(fake_slack, thread)
    shown = _text(_blocks(verdict))
    assert "FAILED" in shown and "false-ready" in shown
    assert "AtbRingMLA" in shown, "the first error signature"
    assert "MLA attention runtime failures after ready" in shown, "its runbook match"
    next_button, ladder = [
        b for b in _buttons(_blocks(verdict)) if b["action_id"] == run_blocks.RUN_ACTION
    ]
    assert json.loads(next_button["value"]) == {"job": 1, "next": "eager"}
    assert json.loads(ladder["value"]) == {"job": 1, "next": "autopilot"}

    updates = [_text(_blocks(c)) for c in fake_slack.of("chat.update") if c.args["ts"] == thread]
    assert any("starting: " in u for u in updates), "the stage was shown while starting"
    assert ":x: *failed*" in updates[-1] and "Cancel" not in updates[-1]

    # The button dispatches eager isolation, in the same thread.
    message = {"ts": verdict.response["ts"], "thread_ts": thread, "blocks": _blocks(verdict)}
    dispatch(
        runs.app,
        p.button(
            run_blocks.RUN_ACTION, next_button["value"], message, f"{fake_slack.url}/respond/2"
        ),
        FORM,
    )
    dispatch(
        runs.app,
        p.button(
            run_blocks.RUN_ACTION, next_button["value"], message, f"{fake_slack.url}/respond/3"
        ),
        FORM,
    )  # a second click on the same button
    (said,) = fake_slack.wait_for("chat.postEphemeral")
    assert "already dispatched" in said.args["text"]
    eager = _wait_verdict(fake_slack, thread, count=2)
    shown = _text(_blocks(eager))
    assert "PASSED" in shown and "graph-only" in shown
    assert any(
        b["action_id"] == run_blocks.RUN_ACTION and "fallback" in b["value"]
        for b in _buttons(_blocks(eager))
    )
    job = runs.store.job(2)
    assert (
        job and job.spec.playbook == "eager" and job.parent_id == 1 and job.status is Status.PASSED
    )
    audit = runs.store.dispatches()
    assert [(a["source"], a["allowed"]) for a in audit] == [("button", True), ("slash", True)]


def test_doctor_from_slack_examines_a_folder_on_the_host_and_names_the_entry(
    runs: Runs, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    make_checkpoint(models / "qwen-kv3")
    edit_config(models / "qwen-kv3", num_key_value_heads=3)
    runs.start_agent("a2", model_roots=str(models))
    text = f"{models}/qwen-kv3 --tensor-parallel-size 2 on a2"
    response = dispatch(runs.app, p.slash("/doctor", text, f"{fake_slack.url}/respond/1"), FORM)
    assert response.status == 200 and response.body == ""
    (status,) = fake_slack.wait_for("chat.postMessage")
    verdict = _wait_verdict(fake_slack, status.response["ts"])
    shown = _text(_blocks(verdict))
    assert "FAILED: doctor" in shown and "doctor: 1 error(s)" in shown
    assert "error [heads] 3 KV heads do not divide by tensor parallel size 2" in shown
    assert "heads          error" in shown, "every check's outcome, as a table"
    assert "QK norm mismatch (KV heads / TP / head divisibility)" in shown, "its runbook entry"
    assert not _buttons(_blocks(verdict)) or all(
        b["action_id"] != run_blocks.RUN_ACTION for b in _buttons(_blocks(verdict))
    ), "no launch is offered for a checkpoint that would fail"
    job = runs.store.job(1)
    assert job and job.status is Status.FAILED and job.spec.playbook == "doctor"


def test_the_status_says_how_far_graph_capture_is(runs: Runs, fake_slack: FakeSlack) -> None:
    runs.start_agent()
    dispatch(runs.app, p.slash("/smoke", "fake/slow-capture", f"{fake_slack.url}/respond/1"), FORM)
    (status,) = fake_slack.wait_for("chat.postMessage")
    thread = status.response["ts"]
    verdict = _wait_verdict(fake_slack, thread)
    assert "PASSED" in _text(_blocks(verdict))
    updates = [_text(_blocks(c)) for c in fake_slack.of("chat.update") if c.args["ts"] == thread]
    assert any(re.search(r"starting: capturing graphs \d+/\d+", u) for u in updates), updates


def test_cancel_button_stops_the_job_on_its_host(runs: Runs, fake_slack: FakeSlack) -> None:
    runs.start_agent()
    dispatch(runs.app, p.slash("/smoke", "fake/slow-capture", f"{fake_slack.url}/respond/1"), FORM)
    (status,) = fake_slack.wait_for("chat.postMessage")
    thread = status.response["ts"]
    deadline = time.monotonic() + 30
    while (
        (job := runs.store.job(1))
        and not (job.stage or "").startswith("capturing graphs")
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    (cancel,) = [b for b in _buttons(_blocks(status)) if b["action_id"] == run_blocks.CANCEL_ACTION]
    dispatch(
        runs.app,
        p.button(
            run_blocks.CANCEL_ACTION, cancel["value"], {"ts": thread}, f"{fake_slack.url}/respond/2"
        ),
        FORM,
    )
    verdict = _wait_verdict(fake_slack, thread)
    assert "CANCELLED" in _text(_blocks(verdict))
    assert runs.store.job(1).status is Status.CANCELLED  # type: ignore[union-attr]


def test_only_allowed_people_dispatch_and_refusals_are_audited(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.store.add_agent("npu", ["a2"])
    response = dispatch(
        runs.app, p.slash("/smoke", "org/model", f"{fake_slack.url}/r", user="U0MALLORY"), FORM
    )
    assert "not among the people allowed" in str(response.body)
    response = dispatch(
        runs.app, p.slash("/smoke", "org/m --env LD_PRELOAD=/x.so", f"{fake_slack.url}/r"), FORM
    )
    assert "not an allowed environment override" in str(response.body)
    response = dispatch(runs.app, p.slash("/fallback", "", f"{fake_slack.url}/r"), FORM)
    assert "/fallback <name[=value]>" in str(response.body)
    assert runs.store.job(1) is None, "nothing was queued"
    response = dispatch(runs.app, p.slash("/smoke", "org/m on a3", f"{fake_slack.url}/r"), FORM)
    assert "No agent has the labels a3" in str(response.body)
    assert [a["allowed"] for a in runs.store.dispatches()] == [False, False, False]


def test_members_of_an_allowed_user_group_may_dispatch(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str, tmp_path: Path
) -> None:
    fake_slack.groups["S0NPU"] = ["U0BOB"]
    settings = slack_settings(fake_slack, database_url, dispatch_groups=["S0NPU"])
    r = Runs(settings, oncall, tmp_path)
    r.store.add_agent("npu")
    try:
        ok = dispatch(
            r.app, p.slash("/eager", "org/model", f"{fake_slack.url}/r", user="U0BOB"), FORM
        )
        assert ok.body == ""
        no = dispatch(r.app, p.slash("/eager", "org/model", f"{fake_slack.url}/r"), FORM)
        assert "not among" in str(no.body)
        assert r.store.job(1) and r.store.job(1).spec.playbook == "eager"  # type: ignore[union-attr]
    finally:
        r.close()


def test_runners_lists_agents_with_their_labels_and_health(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.start_agent("a2", "tp8")
    deadline = time.monotonic() + 20
    while (
        not (runs.store.agents() and runs.store.agents()[0][0].labels)
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    response = dispatch(runs.app, p.slash("/runners", "", f"{fake_slack.url}/r"), FORM)
    shown = json.dumps(response.body)
    assert "npu-01" in shown and "a2, tp8" in shown and "online" in shown and "idle" in shown


def test_a_triage_answer_offers_a_run_and_the_form_dispatches_it(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.store.add_agent("npu")
    paste = "vllm serve Qwen/Qwen3-8B --port 8000\nRuntimeError: call aclnnFusedInferAttentionScoreV3 failed, error code is 561002"
    dispatch(runs.app, p.slash("/triage", paste, f"{fake_slack.url}/respond/1"), FORM)
    (answer,) = fake_slack.wait_for("chat.postMessage")
    (run_button,) = [
        b for b in _buttons(_blocks(answer)) if b["action_id"] == run_blocks.FORM_ACTION
    ]
    message = {"ts": answer.response["ts"], "blocks": _blocks(answer)}
    dispatch(
        runs.app,
        p.button(run_blocks.FORM_ACTION, run_button["value"], message, f"{fake_slack.url}/r"),
        FORM,
    )
    (opened,) = fake_slack.wait_for("views.open")
    view = (
        json.loads(opened.args["view"])
        if isinstance(opened.args["view"], str)
        else opened.args["view"]
    )
    model = next(b for b in view["blocks"] if b["block_id"] == "model")
    assert model["element"]["initial_value"] == "Qwen/Qwen3-8B", "filled in from the paste"
    values = {
        "playbook": {"playbook": {"type": "static_select", "selected_option": {"value": "eager"}}},
        "model": {"model": {"type": "plain_text_input", "value": "Qwen/Qwen3-8B"}},
        "fallback": {"fallback": {"type": "static_select", "selected_option": None}},
        "args": {"args": {"type": "plain_text_input", "value": "--tp 2"}},
    }
    response = dispatch(runs.app, p.submitted(view, values), FORM)
    assert response.status == 200 and not response.body
    job = runs.store.job(1)
    assert job and job.spec.playbook == "eager" and job.spec.args == ("--tensor-parallel-size", "2")
    where = runs.dispatcher.threads.thread(job.id)
    assert where and where.thread_ts == answer.response["ts"], "it reports in the answer's thread"


def test_a_status_message_the_bot_never_posted_is_posted_later(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    # Queued, then the bot stopped before its status message went out.
    job = _in_slack(runs)
    reporter = Reporter(runs.dispatcher)
    reporter.post_after_s = 0.0
    reporter.once()
    (posted,) = fake_slack.wait_for("chat.postMessage")
    assert f"Job {job.id}" in _text(_blocks(posted))
    assert runs.dispatcher.threads.thread(job.id).message_ts == posted.response["ts"]  # type: ignore[union-attr]
    reporter.once()
    fake_slack.quiet_for(0.5)
    assert len(fake_slack.of("chat.postMessage")) == 1, "posted once"


def test_status_updates_are_spaced_for_slacks_rate_limit_but_verdicts_are_not(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.stop.set()  # the fixture's own reporter steps aside
    time.sleep(0.3)
    job = _in_slack(runs, "1700000000.000100")
    agent = runs.store.register(runs.store.agent_for(runs.store.add_agent("npu")), (), "h", "1", 1)
    runs.store.lease(agent)
    reporter = Reporter(runs.dispatcher)
    reporter.min_update_s = 30.0
    assert reporter.once() == 1  # queued -> running: shown
    runs.store.heartbeat(agent, job.id, ["INFO loading"])
    assert reporter.once() == 0, "a change a moment later waits"
    runs.store.finish(
        agent, job.id, RunResult(playbook="smoke", status="passed", phase="text smoke")
    )
    assert reporter.once() == 1, "a verdict never waits"
    verdicts = [c for c in fake_slack.of("chat.postMessage") if c.args.get("thread_ts")]
    assert len(verdicts) == 1


def test_where_the_bot_cannot_post_the_job_is_not_started_and_the_asker_is_told(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.store.add_agent("npu")
    fake_slack.not_in.add("C0SECRET")
    body = p.slash("/smoke", "org/model", f"{fake_slack.url}/respond/9", channel="C0SECRET")
    assert dispatch(runs.app, body, FORM).body == ""
    (told,) = fake_slack.wait_for("response_url")
    assert "/invite @ascend-oncall" in told.args["text"] and "not_in_channel" in told.args["text"]
    job = runs.store.job(1)
    assert job is not None and job.status is Status.CANCELLED, "no verdict nobody would see"


def test_a_verdict_slack_could_not_take_is_posted_on_the_next_round(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.stop.set()  # the fixture's own reporter steps aside
    time.sleep(0.3)
    job = _in_slack(runs, "1700000000.000100")
    agent = runs.store.register(runs.store.agent_for(runs.store.add_agent("npu")), (), "h", "1", 1)
    runs.store.lease(agent)
    runs.store.finish(
        agent, job.id, RunResult(playbook="smoke", status="failed", phase="text smoke")
    )
    reporter = Reporter(runs.dispatcher)
    fake_slack.failing["chat.postMessage"] = 1
    reporter.once()
    assert not [c for c in fake_slack.of("chat.postMessage") if c.response.get("ok")]
    reporter.once()
    (verdict,) = [c for c in fake_slack.of("chat.postMessage") if c.response.get("ok")]
    assert "FAILED" in _text(_blocks(verdict))
    reporter.once()
    assert len([c for c in fake_slack.of("chat.postMessage") if c.response.get("ok")]) == 1
