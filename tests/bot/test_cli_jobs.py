"""`ascend-oncall jobs submit|list|show|cancel|log`: runner jobs from the shell, in the
bot's database, checked and audited as a Slack dispatch is, and no Slack message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from bot.cli import app
from bot.slack.http import listen
from runners import FirstError, JobSpec, RunbookMatch, RunResult, RunTriage, Status
from runners.coordinator import coordinator_app
from runners.store.jobstore import JobStore, open_jobs
from tests.databases import KINDS, database
from tests.runners.conftest import FAKE_CMD

pytestmark = pytest.mark.usefixtures("isolated_env")
runner = CliRunner()


@pytest.fixture(params=KINDS)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[JobStore]:
    with database(request.param, tmp_path) as url:
        monkeypatch.setenv("ONCALL_DATABASE_URL", url)
        opened = open_jobs(url)
        try:
            yield opened
        finally:
            opened.engine.dispose()


def jobs(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["jobs", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_submit_queues_the_job_a_dispatch_would_and_audits_it(store: JobStore) -> None:
    store.add_agent("npu-01", ["a2"])
    code, out, err = jobs(
        "submit", "fallback", "--model", "Qwen/Qwen3-8B", "--fallback", "hccl-aiv", "--vl",
        "--env", "TORCHDYNAMO_DISABLE=1", "--on", "a2", "--",
        "--max_model_len=8192", "--enforce-eager",
    )  # fmt: skip
    assert code == 0, err
    job_id = int(out.strip())
    assert f"queued job {job_id}" in err
    job = store.job(job_id)
    assert job is not None and job.status is Status.QUEUED
    assert job.spec == JobSpec(
        playbook="fallback", model="Qwen/Qwen3-8B", vl=True, fallback="hccl-aiv",
        args=("--max-model-len", "8192", "--enforce-eager"),
        env={"TORCHDYNAMO_DISABLE": "1"}, labels=("a2",),
    )  # fmt: skip
    assert job.origin is None and job.requested_by and job.requested_by.startswith("cli")
    (audit,) = store.dispatches()
    assert audit["source"] == "cli" and audit["allowed"] and audit["job"] == job_id
    assert audit["origin"] is None, "nothing for Slack to show"

    code, out, _ = jobs("submit", "smoke", "--model", "org/m", "--json")
    assert code == 0 and json.loads(out)["status"] == "queued"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["smoke", "--model", "org/m", "--", "--api-key", "x"], 2, "not an allowed serve argument"),
        (
            ["smoke", "--model", "org/m", "--env", "LD_PRELOAD=/x.so"],
            2,
            "not an allowed environment",
        ),
        (["smoke", "--model", "org/m", "--env", "NOEQUALS"], 2, "--env takes NAME=VALUE"),
        (["smoke", "--model", "/etc/passwd"], 2, "not under a model root"),
        (["fallback", "--model", "org/m"], 2, "say which fallback"),
        (["launch", "--model", "org/m"], 2, "playbook must be one of"),
        (["smoke", "--model", "org/m", "--on", "gpu"], 1, "no agent has the labels gpu"),
    ],
)
def test_submit_refuses_what_a_dispatch_refuses(
    store: JobStore, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, says: str
) -> None:
    monkeypatch.setenv("ONCALL_MODEL_ROOTS", "/models")
    store.add_agent("npu-01", ["a2"])
    got, _, err = jobs("submit", *args)
    assert got == code and says in " ".join(err.split()), err
    assert store.recent() == [], "nothing queued"
    if code == 1:
        (audit,) = store.dispatches()
        assert audit["source"] == "cli" and not audit["allowed"] and says in audit["reason"]


def test_submit_with_no_flag_model_is_a_usage_error(store: JobStore) -> None:
    code, _, err = jobs("submit", "smoke")
    assert code == 2 and "--model" in err


def _finished(store: JobStore, status: str = "failed") -> int:
    """A job an agent ran, with its verdict, runbook match and server log."""
    job = store.submit(JobSpec(playbook="smoke", model="org/m", labels=("a2",)))
    token = store.add_agent(f"npu-{job.id}", ["a2"])
    agent = store.register(store.agent_for(token), ["a2"], "h", "1", 1)
    store.lease(agent)
    store.put_log(agent, job.id, b"INFO starting\nERROR 507903 capture failed\n", 42)
    triage = RunTriage(
        verdict="match",
        matches=[
            RunbookMatch(
                entry_id="acl-graph-capture-fails-507903",
                title="ACL graph capture fails (507903)",
                confidence="high",
                actions=["Prefer `HCCL_OP_EXPANSION_MODE=AIV`"],
            )
        ],
    )
    result = RunResult(
        playbook="smoke", status=status, phase="starting", verdict="graph capture failed",
        ready_s=None, timings={"starting": 12.5},
        first_error=FirstError(signature="ErrCode 507903", lines=["ErrCode 507903"]),
        triage=triage,
    )  # fmt: skip
    store.finish(agent, job.id, result)
    return job.id


def test_show_gives_spec_status_phase_verdict_runbook_match_and_timings(store: JobStore) -> None:
    job_id = _finished(store)
    code, out, _ = jobs("show", str(job_id), "--json")
    assert code == 0
    view = json.loads(out)
    assert view["status"] == "failed" and view["phase"] == "starting"
    assert view["spec"]["model"] == "org/m" and view["spec"]["labels"] == ["a2"]
    assert view["verdict"] == "graph capture failed" and view["agent"] == f"npu-{job_id}"
    assert view["first_error"]["signature"] == "ErrCode 507903"
    assert view["runbook"]["entry_id"] == "acl-graph-capture-fails-507903"
    t = view["timings"]
    assert t["started_at"] and t["finished_at"] and t["queued_s"] >= 0 and t["run_s"] >= 0
    assert t["phases"] == {"starting": 12.5}
    assert view["log"] == {"bytes": 42, "total_bytes": 42, "cut": False}

    code, out, _ = jobs("show", str(job_id))
    assert code == 0
    assert "failed (starting)" in out
    match = "Runbook match: ACL graph capture fails (507903) (high, entry acl-graph-capture"
    assert match in out and "1. Prefer `HCCL_OP_EXPANSION_MODE=AIV`" in out
    assert f"ascend-oncall jobs log {job_id}" in out


def test_list_filters_by_status_and_limit(store: JobStore) -> None:
    done = _finished(store, "passed")
    queued = [store.submit(JobSpec(playbook="smoke", model=f"org/m{i}")).id for i in range(3)]
    code, out, _ = jobs("list", "--json")
    assert code == 0 and [j["id"] for j in json.loads(out)] == [*reversed(queued), done]
    code, out, _ = jobs("list", "--status", "passed", "--json")
    assert [(j["id"], j["status"]) for j in json.loads(out)] == [(done, "passed")]
    code, out, _ = jobs("list", "--limit", "2", "--json")
    assert len(json.loads(out)) == 2
    code, out, _ = jobs("list")
    assert code == 0 and "/smoke org/m2" in out and "passed" in out
    assert jobs("list", "--status", "finished")[0] == 2
    assert jobs("list", "--limit", "0")[0] == 2


def test_cancel_a_queued_job_stops_it_and_a_running_one_asks_its_agent(store: JobStore) -> None:
    queued = store.submit(JobSpec(playbook="smoke", model="org/m")).id
    code, _, err = jobs("cancel", str(queued))
    assert code == 0 and "cancelled before it started" in err
    assert (job := store.job(queued)) is not None and job.status is Status.CANCELLED

    running = store.submit(JobSpec(playbook="smoke", model="org/m")).id
    agent = store.register(store.agent_for(store.add_agent("npu")), [], "h", "1", 1)
    store.lease(agent)
    code, _, err = jobs("cancel", str(running))
    assert code == 0 and "asked to stop" in err
    assert (job := store.job(running)) is not None and job.cancel_requested
    assert {d["command"] for d in store.dispatches()} == {
        f"cancel job {queued}",
        f"cancel job {running}",
    }

    code, _, err = jobs("cancel", str(queued))
    assert code == 1 and "cancelled already" in err


def test_log_prints_the_stored_log(store: JobStore) -> None:
    job_id = _finished(store)
    code, out, _ = jobs("log", str(job_id))
    assert code == 0 and out == "INFO starting\nERROR 507903 capture failed\n"
    waiting = store.submit(JobSpec(playbook="smoke", model="org/m")).id
    code, _, err = jobs("log", str(waiting))
    assert code == 1 and "sends the log with its verdict" in err


@pytest.mark.parametrize("command", ["show", "cancel", "log"])
def test_an_unknown_id_is_said_plainly(store: JobStore, command: str) -> None:
    code, _, err = jobs(command, "4242")
    assert code == 1 and "no job 4242" in err
    assert jobs(command, "four")[0] == 2


def test_a_database_that_is_not_reachable_is_an_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONCALL_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    code, _, err = jobs("list")
    assert code == 1 and "cannot open the database" in err and "is it up?" in err
    assert "Traceback" not in err


def test_a_job_from_the_shell_runs_on_an_agent_and_its_log_is_read_back(tmp_path: Path) -> None:
    """`jobs submit` in a real process -> a real coordinator and agent -> the fake vllm ->
    `jobs show` has the verdict and `jobs log` prints the server log the agent sent."""
    url = f"sqlite:///{tmp_path / 'oncall.db'}"
    store = open_jobs(url)
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(coordinator_app(store), log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    exe = str(Path(sys.executable).with_name("ascend-oncall"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")},
        "ONCALL_DATABASE_URL": url,
        "ONCALL_RUNNER_DIR": str(tmp_path / "runner"),
        "ONCALL_VLLM_CMD": " ".join(FAKE_CMD),
        "ONCALL_RUNNER_PORT": "0",
        "ONCALL_SETTLE_S": "0.3",
        "FAKE_VLLM_TIME_SCALE": "0.1",
    }
    token = store.add_agent("npu-01", ["a2"])
    coordinator = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with (tmp_path / "agent.log").open("ab") as log:
        agent = subprocess.Popen(
            [exe, "runner", "--server", coordinator, "--token", token, "--label", "a2"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        queued = subprocess.run(
            [exe, "jobs", "submit", "smoke", "--model", "fake/healthy", "--on", "a2"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        job_id = int(queued.stdout.strip())
        deadline = time.monotonic() + 60
        while (job := store.job(job_id)) is None or not job.status.final:
            assert time.monotonic() < deadline, (tmp_path / "agent.log").read_text()[-2000:]
            time.sleep(0.2)
        assert job.status is Status.PASSED
        shown = subprocess.run(
            [exe, "jobs", "show", str(job_id), "--json"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        view = json.loads(shown.stdout)
        assert view["status"] == "passed" and view["agent"] == "npu-01" and view["log"]
        printed = subprocess.run(
            [exe, "jobs", "log", str(job_id)],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        assert job.result is not None and job.result.log_path
        assert printed.stdout == Path(job.result.log_path).read_text(), "the log as on the host"
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(20)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
        server.should_exit = True
        store.engine.dispose()
