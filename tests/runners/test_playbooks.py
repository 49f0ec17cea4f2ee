"""Playbooks against the fake `vllm`: each scenario of the runbook ends in the verdict, the
first error, the next step and a clean host that a person on call would expect."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kb import Triage
from runners import Event, JobSpec, RunnerConfig, RunResult, RunTriage, run_playbook
from runners.run.vllm_process import group_members, launch
from tests.runners.conftest import FAKE_CMD


def run(config: RunnerConfig, model: str, playbook: str = "smoke", **spec: object) -> RunResult:
    events: list[Event] = []
    result = run_playbook(
        JobSpec(playbook=playbook, model=f"fake/{model}", **spec),  # type: ignore[arg-type]
        config,
        events.append,
    )
    result.notes.append("events: " + " > ".join(e.stage or e.phase for e in events))
    assert result.cleanup in ("clean", ""), result.cleanup
    assert not list(config.records.glob("*.json")), "every server's record goes once it is gone"
    return result


def test_healthy_graph_mode_start_passes_with_its_phases_and_evidence(
    runner_config: RunnerConfig,
) -> None:
    result = run(runner_config, "healthy")
    assert result.status == "passed", result.notes
    assert result.phase == "text smoke" and result.ready_s is not None
    assert result.smoke["text"] and result.smoke["text"]["ok"]
    assert result.smoke["text"]["content"].strip()
    assert "Graph capturing finished" in result.evidence["graph"]
    # The memory the KV cache got, as the server said it: the room this length leaves.
    assert re.search(r"Available KV cache memory: [\d.]+ GiB", result.evidence["kv_cache"])
    assert re.search(r"KV cache size: [\d,]+ tokens", result.evidence["kv_cache"])
    assert "capturing graphs" in result.notes[-1] and "loading" in result.notes[-1]
    assert result.first_error is None and result.next is None
    assert set(result.timings) >= {"preflight", "starting", "ready", "text smoke"}
    assert Path(result.log_path or "").read_text().count("Application startup complete") == 1
    # What the server logged after the runner asked it to stop (an EngineDeadError from the
    # shutdown race) is not the run's error.
    assert "EngineDeadError" in Path(result.log_path or "").read_text()


def test_slow_graph_capture_that_keeps_printing_is_never_a_stall(
    runner_config: RunnerConfig,
) -> None:
    # Capture takes ~3 s at this scale, printing every 0.1 s; the stall window is 1.5 s
    # (room for a loaded machine), and the startup budget runs out while capture still
    # makes progress: progress wins.
    budgets = replace(runner_config.budgets, stall_s=1.5, stall_quiet_stage_s=1.5, startup_s=2.0)
    config = replace(runner_config, budgets=budgets)
    result = run(config, "slow-capture")
    assert result.status == "passed", (result.verdict, result.notes)
    assert (result.ready_s or 0) > 2.0


def test_graph_capture_reports_how_far_it_is_every_few_seconds_and_when_done(
    runner_config: RunnerConfig,
) -> None:
    events: list[Event] = []
    result = run_playbook(
        JobSpec(playbook="smoke", model="fake/slow-capture"), runner_config, events.append
    )
    assert result.status == "passed", result.notes
    progress = [e for e in events if e.kind == "progress" and e.stage == "capturing graphs"]
    counts = [tuple(map(int, re.match(r"(\d+)/(\d+)", e.message).groups())) for e in progress]  # type: ignore[union-attr]
    assert progress
    # Which pass each count belongs to: two passes must not read as going backwards.
    assert {e.message.split("(")[-1] for e in progress} >= {"decode, FULL)"}
    assert any(total == 30 for _, total in counts), counts  # the slow bar of 30 sizes
    assert all(0 <= done <= total for done, total in counts)
    assert any(done == total for done, total in counts)  # the end of a bar is always said
    assert len(progress) < 20  # not one event per tqdm redraw
    # After the answer, the run says why it waits before it stops the server.
    assert any(e.kind == "progress" and e.stage == "settling" for e in events)


def test_a_hang_with_no_output_is_stopped_by_the_stall_watchdog(
    runner_config: RunnerConfig,
) -> None:
    config = replace(runner_config, budgets=replace(runner_config.budgets, stall_s=1.0))
    result = run(config, "hang")
    assert result.status == "timeout"
    assert any("no log output for" in n for n in result.notes)


def test_unknown_architecture_fails_at_startup_and_no_relaunch_is_offered(
    runner_config: RunnerConfig,
) -> None:
    result = run(runner_config, "arch-unknown")
    assert result.status == "failed" and result.phase == "starting"
    assert result.first_error and "are not supported for now" in result.first_error.signature
    assert result.next is None and "no relaunch helps" in result.verdict


def test_hccl_bind_is_the_host_not_the_model(runner_config: RunnerConfig) -> None:
    result = run(runner_config, "hccl-bind")
    assert result.status == "failed"
    assert result.first_error and "HcclGetRootInfo" in result.first_error.signature
    assert any("EJ0003" in line for line in result.first_error.lines)
    assert (
        result.next and result.next.playbook == "smoke" and "infrastructure" in result.next.reason
    )


def test_false_ready_is_a_failure_even_though_the_server_exits_0(
    runner_config: RunnerConfig,
) -> None:
    result = run(runner_config, "false-ready-fia")
    assert result.status == "failed" and result.phase == "text smoke"
    assert result.smoke["text"] and result.smoke["text"]["http_status"] == 500
    assert result.first_error and "561002" in result.first_error.signature
    assert "EngineDeadError" not in result.first_error.signature  # a wrapper, not the cause
    assert result.next and result.next.playbook == "eager"


def test_the_runner_tells_triage_it_saw_ready_then_the_first_request_fail(
    runner_config: RunnerConfig,
) -> None:
    asked: list[tuple[str, frozenset[str]]] = []

    def triage(text: str, observed: frozenset[str]) -> Triage:
        asked.append((text, observed))
        return Triage("no_match", None, ())

    result = run_playbook(JobSpec(playbook="smoke", model="fake/false-ready-fia"), runner_config)
    assert result.triaged(triage) == RunTriage(verdict="no_match")
    assert result.status == "failed"
    assert result.facts == ["@first-request-crash"]
    assert any(
        o.startswith("the first request (text) was sent and got HTTP 500") for o in result.observed
    )
    assert any(o.startswith("ready after") for o in result.observed)
    [(text, observed)] = asked
    assert observed == {"@first-request-crash"}
    assert "561002" in text  # the first error is still what is quoted and read


def test_a_server_that_never_got_ready_observed_no_request(runner_config: RunnerConfig) -> None:
    result = run(runner_config, "arch-unknown")
    assert result.status == "failed"
    assert result.facts == [] and result.observed == []


def test_graph_only_failure_passes_eager_and_says_so(runner_config: RunnerConfig) -> None:
    smoke = run(runner_config, "graph-only-mla")
    assert smoke.status == "failed" and smoke.next and smoke.next.playbook == "eager"
    eager = run(runner_config, "graph-only-mla", playbook="eager")
    assert eager.status == "passed"
    assert "--enforce-eager" in eager.argv
    assert "eager" in eager.evidence, "the eager markers prove --enforce-eager took effect"
    assert "graph-only" in eager.verdict
    assert eager.next and eager.next.playbook == "fallback"


def test_vl_dynamo_failure_on_the_image_smoke_passes_with_torchdynamo_disabled(
    runner_config: RunnerConfig,
) -> None:
    smoke = run(runner_config, "vl-dynamo", vl=True)
    assert smoke.status == "failed" and smoke.phase == "image smoke"
    assert smoke.smoke["text"] and smoke.smoke["text"]["ok"], "text passed first"
    assert smoke.next and smoke.next.fallback == "torchdynamo-disable"
    fixed = run(
        runner_config, "vl-dynamo", playbook="fallback", vl=True, fallback="torchdynamo-disable"
    )
    assert fixed.status == "passed", fixed.notes
    assert fixed.env_overrides == {"TORCHDYNAMO_DISABLE": "1"}
    assert fixed.smoke["image"] and fixed.smoke["image"]["ok"]


def test_capture_507903_offers_aiv_and_a_shorter_length_and_aiv_passes(
    runner_config: RunnerConfig,
) -> None:
    smoke = run(runner_config, "capture-507903")
    assert smoke.status == "failed" and smoke.stage == "capturing graphs"
    assert smoke.first_error and "507903" in smoke.first_error.signature
    assert smoke.next and smoke.next.fallback == "hccl-aiv"
    assert any(a.startswith("max-model-len=") for a in smoke.next.alternatives)
    fixed = run(runner_config, "capture-507903", playbook="fallback", fallback="hccl-aiv")
    assert fixed.status == "passed" and fixed.env_overrides == {"HCCL_OP_EXPANSION_MODE": "AIV"}


def test_kv_cache_too_small_offers_the_length_the_error_estimates(
    runner_config: RunnerConfig,
) -> None:
    smoke = run(runner_config, "kv-too-small")
    assert smoke.next and smoke.next.fallback == "max-model-len=2048"
    fixed = run(runner_config, "kv-too-small", playbook="fallback", fallback="max-model-len=2048")
    assert fixed.status == "passed" and fixed.max_model_len == 2048


def test_a_taken_port_blocks_the_run_before_anything_starts(runner_config: RunnerConfig) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = replace(runner_config, port=taken.getsockname()[1])
        result = run_playbook(JobSpec(playbook="smoke", model="fake/healthy"), config)
    assert result.status == "blocked" and "in use" in result.verdict
    assert result.argv == [], "nothing was launched"


def test_cancel_during_startup_stops_the_whole_group(runner_config: RunnerConfig) -> None:
    cancel = threading.Event()
    launched: list[str] = []

    def notify(event: Event) -> None:
        if event.kind == "stage":
            cancel.set()
        launched.append(event.kind)

    result = run_playbook(
        JobSpec(playbook="smoke", model="fake/slow-capture"), runner_config, notify, cancel
    )
    assert result.status == "cancelled" and result.cleanup == "clean"


def test_cancel_during_a_slow_first_request_does_not_wait_for_it(
    runner_config: RunnerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_REPLY_DELAY_S", "30")
    config = replace(runner_config, budgets=replace(runner_config.budgets, request_s=60.0))
    cancel = threading.Event()

    def notify(event: Event) -> None:
        if event.kind == "phase" and event.phase == "text smoke":
            threading.Timer(0.5, cancel.set).start()

    started = time.monotonic()
    result = run_playbook(JobSpec(playbook="smoke", model="fake/healthy"), config, notify, cancel)
    assert result.status == "cancelled" and result.cleanup == "clean"
    assert time.monotonic() - started < 15, "the 30 s request was not waited for"


def test_a_server_that_ignores_sigint_is_stopped_with_sigterm(
    runner_config: RunnerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_VLLM_IGNORE_SIGINT", "1")
    events: list[Event] = []
    result = run_playbook(
        JobSpec(playbook="smoke", model="fake/healthy"), runner_config, events.append
    )
    assert result.status == "passed" and result.cleanup == "clean"
    assert any("SIGTERM" in e.message for e in events if e.phase == "cleanup")


def test_preflight_stops_servers_a_crashed_run_left_behind(runner_config: RunnerConfig) -> None:
    # A server launched by an earlier agent that died (its record is on disk).
    port = str(free_port())
    left = launch(
        [*FAKE_CMD, "serve", "fake/healthy", "--port", port],
        dict(os.environ),
        runner_config.logs / "left.log",
        runner_config.records,
    )
    deadline = time.monotonic() + 60  # a busy machine starts the child late
    while len(group_members(left.pgid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(group_members(left.pgid)) >= 2, "the fake's EngineCore child never started"
    left.popen.kill()  # the leader dies; the EngineCore child lives on, as vLLM's does
    left.popen.wait()
    # ...and the runner that launched it is gone too (it crashed): its record says who.
    assert left.record is not None
    record = json.loads(left.record.read_text())
    left.record.write_text(json.dumps({**record, "owner": find_dead_pid()}))
    assert group_members(left.pgid), "a leftover holds the host"
    result = run(runner_config, "healthy")
    assert result.status == "passed"
    assert any("leftover" in n for n in result.notes)
    assert not group_members(left.pgid)


def test_someone_elses_process_group_is_never_touched(runner_config: RunnerConfig) -> None:
    other = launch(
        [*FAKE_CMD, "serve", "fake/hang", "--port", str(free_port())],
        dict(os.environ),
        runner_config.logs / "other.log",
        records=None,
    )
    try:
        # A forged record naming that group, with a marker the group does not carry.
        runner_config.records.mkdir(parents=True, exist_ok=True)
        (runner_config.records / "forged.json").write_text(
            json.dumps({"pgid": other.pgid, "run_id": "not-theirs"})
        )
        result = run(runner_config, "healthy")
        assert result.status == "passed"
        assert other.exited() is None and group_members(other.pgid)
    finally:
        other.stop(grace_s=2)


def test_stopping_a_server_reaps_its_leader(runner_config: RunnerConfig) -> None:
    # A leader left unwaited for is a zombie on the Ascend host until the agent exits.
    server = launch(
        [*FAKE_CMD, "serve", "fake/healthy", "--port", str(free_port())],
        dict(os.environ),
        runner_config.logs / "reaped.log",
        runner_config.records,
    )
    deadline = time.monotonic() + 60
    while len(server.members()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop(grace_s=10)
    assert server.popen.returncode is not None, "the leader was never waited for"
    assert not group_members(server.pgid) and server.record is not None
    assert not server.record.exists()


def find_dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
