"""Playbooks against a REAL `vllm serve` (vLLM 0.32.0, CPU build) with tiny dummy-weight models.

What the fake `vllm` cannot prove: that the runner reads the real log lines, the real HTTP
answers and the real process tree of vLLM, and ends each run in the verdict and next step a
person on call would expect. Slow (about 3 minutes on 2 cores, one server at a time, ~1.6 GB
each), so excluded from the default run:

    scripts/vllm-cpu-env                       # builds .vllm-cpu/ (once)
    .venv/bin/pytest -m real_vllm tests/real_vllm -q

`ONCALL_TEST_VLLM=/path/to/vllm` runs them against another vllm executable instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kb import Triager
from runners import (
    Budgets,
    Event,
    JobSpec,
    RunnerConfig,
    RunResult,
    ladder_command,
    run_ladder,
    run_playbook,
)
from runners.run import vllm_process as server_module
from runners.run.logwatch import LogFollower
from runners.run.vllm_process import Server, group_members
from runners.spec.job import Playbook
from tests.real_vllm.tiny_model import make_tiny_model

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VLLM = ROOT / ".vllm-cpu" / "bin" / "vllm"


def _find_vllm() -> tuple[Path | None, str]:
    """The vllm executable to test against, or None and why not."""
    override = os.environ.get("ONCALL_TEST_VLLM")
    if override:
        path = Path(override).absolute()
        if path.is_file() and os.access(path, os.X_OK):
            return path, ""
        return None, f"ONCALL_TEST_VLLM={override} is not an executable file"
    if DEFAULT_VLLM.is_file() and os.access(DEFAULT_VLLM, os.X_OK):
        return DEFAULT_VLLM, ""
    return None, (
        f"no real vLLM at {DEFAULT_VLLM}: build it with scripts/vllm-cpu-env, "
        "or set ONCALL_TEST_VLLM to a vllm executable"
    )


VLLM, WHY_NOT = _find_vllm()

pytestmark = [
    pytest.mark.real_vllm,
    pytest.mark.skipif(VLLM is None, reason=WHY_NOT),
]

# Real seconds on a 2-core CPU: ready in ~20 s eager, ~35 s compiled; generous but bounded.
REAL = Budgets(
    startup_s=180.0,
    stall_s=120.0,
    stall_quiet_stage_s=120.0,
    fatal_grace_s=30.0,
    request_s=60.0,
    settle_s=2.0,
    stop_grace_s=20.0,
    cleanup_s=30.0,
    poll_s=0.05,
    health_every_s=0.5,
)
# Small enough for a laptop, the same on every run: dummy weights, 64 MiB of KV cache.
TINY = ("--load-format", "dummy", "--kv-cache-memory-bytes", "64M", "--max-model-len", "512")
EAGER = (*TINY, "--enforce-eager")

# Stages a healthy eager start on vLLM 0.32.0 CPU passes, in the order its log announces them
# (no "platform": `Automatically detected platform cpu` is a debug line there).
EAGER_STAGES = ["config", "engine", "loading", "profiling", "engine ready", "api up"]


@dataclass(frozen=True)
class Models:
    root: Path
    healthy: Path
    head_dim_16: Path
    unknown_arch: Path


@dataclass
class Run:
    result: RunResult
    events: list[Event]
    servers: list[Server] = field(default_factory=list)

    @property
    def stages(self) -> list[str]:
        """The startup stages the runner announced to the thread, in order."""
        return [e.stage for e in self.events if e.kind == "stage" and e.stage]

    @property
    def log(self) -> str:
        return Path(self.result.log_path or "").read_text(errors="replace")

    def explain(self) -> str:
        r = self.result
        return (
            f"status={r.status} phase={r.phase} stage={r.stage} verdict={r.verdict!r}\n"
            f"first_error={r.first_error} next={r.next}\nnotes={r.notes}\nsmoke={r.smoke}\n"
            f"stages={self.stages}\nlog tail:\n" + "\n".join(r.log_tail[-25:])
        )


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    root = tmp_path_factory.mktemp("models")
    return Models(
        root=root,
        healthy=make_tiny_model(root / "tiny-llama"),
        head_dim_16=make_tiny_model(root / "tiny-llama-head16", head_dim=16),
        unknown_arch=make_tiny_model(root / "tiny-nosuch", architecture="NoSuchForCausalLM"),
    )


@pytest.fixture
def config(tmp_path: Path, models: Models, monkeypatch: pytest.MonkeyPatch) -> RunnerConfig:
    # The server inherits this process's environment: its compile cache goes under tmp, and
    # nothing is fetched (tests/conftest.py sets HF_HUB_OFFLINE).
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "vllm-cache"))
    assert VLLM is not None
    return RunnerConfig(
        vllm_cmd=(str(VLLM),),
        port=0,
        work_dir=tmp_path / "runner",
        model_roots=(str(models.root),),
        budgets=REAL,
    )


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Server]]:
    """Every server the runner launches in this test, so the test can look at its process
    group; one the runner failed to stop is killed here (only that group)."""
    servers: list[Server] = []
    real_launch = server_module.launch

    def recording_launch(
        argv: Sequence[str], env: Mapping[str, str], log_path: Path, records: Path | None = None
    ) -> Server:
        proc = real_launch(argv, env, log_path, records)
        servers.append(proc)
        return proc

    monkeypatch.setattr(server_module, "launch", recording_launch)
    yield servers
    for proc in servers:
        if group_members(proc.pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pgid, signal.SIGKILL)
        proc.popen.wait(timeout=30)


def run(
    config: RunnerConfig,
    launched: list[Server],
    model: Path,
    args: tuple[str, ...],
    playbook: Playbook = "smoke",
    fallback: str | None = None,
    no_doctor: bool = False,
) -> Run:
    events: list[Event] = []
    before = len(launched)
    result = run_playbook(
        JobSpec(
            playbook=playbook, model=str(model), args=args, fallback=fallback, no_doctor=no_doctor
        ),
        config,
        events.append,
    )
    done = Run(result, events, launched[before:])
    # Whatever the verdict, the host is left as it was: no process of the server's group, no
    # record of it, the port free.
    for proc in done.servers:
        assert group_members(proc.pgid) == [], f"server group {proc.pgid} left processes"
        assert proc.popen.poll() is not None
    if done.servers:
        assert result.cleanup == "clean", done.explain()
    assert not list(config.records.glob("*.json")), "every server's record goes once it is gone"
    return done


def replayed_stages(log_text: str, tmp_path: Path) -> list[str]:
    """Every stage the log follower reaches when it reads the log line by line (the runner
    polls every 50 ms and may see several stages in one read: it announces only the last)."""
    path = tmp_path / "replay.log"
    path.write_bytes(b"")
    follower = LogFollower(path)
    stages: list[str] = []
    with path.open("ab") as out:
        for line in log_text.splitlines(keepends=True):
            out.write(line.encode())
            out.flush()
            follower.poll()
            if follower.stage and (not stages or stages[-1] != follower.stage):
                stages.append(follower.stage)
    return stages


def test_healthy_eager_smoke_passes_answers_and_leaves_nothing_behind(
    config: RunnerConfig, launched: list[Server], models: Models, tmp_path: Path
) -> None:
    run_ = run(config, launched, models.healthy, EAGER)
    result = run_.result
    assert result.status == "passed", run_.explain()
    assert result.verdict.startswith("passed: ready"), result.verdict
    assert result.first_error is None and result.next is None
    assert result.phase == "text smoke"
    text = result.smoke["text"]
    assert text and text["ok"] and text["http_status"] == 200, text
    assert text["content"].strip(), "dummy weights still give a non-empty reply"
    assert result.served_model == str(models.healthy) and result.max_model_len == 512
    assert "Enforce eager set" in result.evidence.get("eager", ""), result.evidence
    assert "graph" not in result.evidence
    assert result.ready_s is not None and 5.0 < result.ready_s < REAL.startup_s
    assert "0.32.0" in (result.environment.get("vllm_cmd_version") or "")
    # Versions and import paths as the server's own interpreter sees them (another venv).
    vllm = result.environment["packages"]["vllm"]
    venv = str(Path(str(VLLM)).parent.parent)
    assert vllm["version"].startswith("0.32.0") and (vllm["path"] or "").startswith(venv), vllm
    assert result.argv[1:3] == ["serve", str(models.healthy)] and "--enforce-eager" in result.argv
    # The thread heard the startup as it happened...
    assert "loading" in run_.stages and run_.stages[-1] == "api up", run_.stages
    assert result.stage == "api up"
    # ...and the follower knows every milestone line of a real CPU start.
    assert replayed_stages(run_.log, tmp_path) == EAGER_STAGES
    # One server, started in its own process group and gone with all its children.
    assert len(run_.servers) == 1


def test_false_ready_head_dim_16_fails_on_the_first_request_and_points_to_eager(
    config: RunnerConfig, launched: list[Server], models: Models, triager: Triager
) -> None:
    # Graph mode (the default /smoke): ready and /health 200, then the first request is a 500
    # and the server exits 0 on its own.
    run_ = run(config, launched, models.head_dim_16, TINY)
    result = run_.result
    assert result.status == "failed", run_.explain()
    assert result.phase == "text smoke"
    assert result.ready_s is not None
    text = result.smoke["text"]
    assert text and text["http_status"] == 500 and not text["ok"], text
    assert result.first_error is not None, run_.explain()
    assert "Unsupported CPU attention configuration" in result.first_error.signature
    assert "head_dim=16" in result.first_error.signature
    assert "EngineDeadError" not in result.first_error.signature  # a wrapper, not the cause
    assert "false-ready" in result.verdict, result.verdict
    assert result.next is not None and result.next.playbook == "eager", run_.explain()
    assert "eager" not in result.evidence
    # The runner saw ready, then the first request kill the engine: that is the false-ready
    # entry, whatever the last error names, and the first error is still what is quoted.
    assert result.facts == ["@first-request-crash"], run_.explain()
    triage = result.triaged(triager.triage)  # as the CLI and the bot both ask it
    assert triage is not None and triage.verdict == "match", triage
    assert triage.top and triage.top.entry_id == (
        "false-ready-startup-succeeds-but-first-request-crashes"
    ), triage


def test_false_ready_in_eager_mode_too_is_a_model_or_backend_problem(
    config: RunnerConfig, launched: list[Server], models: Models
) -> None:
    # The suggested next step, run: /eager fails the same way, so graphs are not the cause and
    # no further playbook is offered.
    run_ = run(config, launched, models.head_dim_16, TINY, playbook="eager")
    result = run_.result
    assert result.status == "failed" and result.phase == "text smoke", run_.explain()
    assert "--enforce-eager" in result.argv and "eager" in result.evidence
    text = result.smoke["text"]
    assert text and text["http_status"] == 500, text
    assert result.first_error is not None
    assert "Unsupported CPU attention configuration" in result.first_error.signature
    assert "eager mode too" in result.verdict, result.verdict
    assert result.next is None


def test_unknown_architecture_fails_at_startup_and_no_relaunch_is_offered(
    config: RunnerConfig, launched: list[Server], models: Models
) -> None:
    # What vLLM itself says, past the doctor (which would block it: the next test).
    run_ = run(config, launched, models.unknown_arch, EAGER, no_doctor=True)
    result = run_.result
    assert result.status == "failed" and result.phase == "starting", run_.explain()
    assert result.ready_s is None and result.smoke["text"] is None
    assert any("exited with code 1" in n for n in result.notes), result.notes
    assert result.first_error is not None, run_.explain()
    assert "are not supported for now" in result.first_error.signature
    assert "NoSuchForCausalLM" in result.first_error.signature
    assert "no relaunch helps" in result.verdict, result.verdict
    assert result.next is None


def test_the_doctor_blocks_an_unknown_architecture_before_anything_is_launched(
    config: RunnerConfig, launched: list[Server], models: Models
) -> None:
    run_ = run(config, launched, models.unknown_arch, EAGER)
    result = run_.result
    assert result.status == "blocked" and not run_.servers, run_.explain()
    assert "NoSuchForCausalLM" in result.verdict, result.verdict
    assert result.doctor is not None and not result.doctor.ok
    assert result.triage is not None and result.triage.top is not None
    assert result.triage.top.entry_id == "architecture-not-recognized"


def test_max_model_len_beyond_the_config_suggests_the_configs_length(
    config: RunnerConfig, launched: list[Server], models: Models
) -> None:
    args = (*TINY[:4], "--max-model-len", "100000", "--enforce-eager")
    run_ = run(config, launched, models.healthy, args, no_doctor=True)
    result = run_.result
    assert result.status == "failed" and result.phase == "starting", run_.explain()
    assert result.first_error is not None, run_.explain()
    assert "max_model_len (100000)" in result.first_error.signature
    assert "beyond the model's config" in result.verdict, result.verdict
    assert result.next is not None, run_.explain()
    assert (result.next.playbook, result.next.fallback) == ("fallback", "max-model-len=2048")


def test_a_taken_port_blocks_the_run_before_anything_is_launched(
    config: RunnerConfig, launched: list[Server], models: Models
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        taken = RunnerConfig(
            vllm_cmd=config.vllm_cmd,
            port=port,
            work_dir=config.work_dir,
            model_roots=config.model_roots,
            budgets=config.budgets,
        )
        run_ = run(taken, launched, models.healthy, EAGER)
    result = run_.result
    assert result.status == "blocked", run_.explain()
    assert result.first_error and f"port {port}" in result.first_error.signature
    assert run_.servers == [] and result.argv == [] and result.log_path is None
    assert not taken.logs.exists() or not list(taken.logs.iterdir())


def test_compiled_smoke_passes_without_eager_evidence(
    config: RunnerConfig, launched: list[Server], models: Models
) -> None:
    run_ = run(config, launched, models.healthy, TINY)
    result = run_.result
    assert result.status == "passed", run_.explain()
    text = result.smoke["text"]
    assert text and text["ok"] and text["content"].strip(), text
    assert "--enforce-eager" not in result.argv
    assert "eager" not in result.evidence and "compiled" in result.evidence, result.evidence
    assert "Warming up model for the compilation" in run_.log
    # torch.compile's warm-up is the long quiet part of a compiled CPU start: the thread says so.
    assert "compiling" in run_.stages and run_.stages[-1] == "api up", run_.stages


def test_answer_checks_read_real_replies_and_leave_dummy_weights_unjudged(
    config: RunnerConfig, launched: list[Server], models: Models
) -> None:
    """Every probe reaches the real server through both endpoints and is checked; random
    weights give random shapes (a looped pair of letters on this build), so the run says
    the checks were not judged instead of failing or passing on them."""
    run_ = run(config, launched, models.healthy, EAGER)
    result = run_.result
    assert result.status == "passed", run_.explain()
    report = result.answers
    assert report is not None and not report.judged and "dummy weights" in report.not_judged
    assert report.chat_template is True  # the tiny model's tokenizer_config has one
    asked = {(p.probe, p.endpoint) for p in report.probes}
    assert asked == {
        ("one-word", "chat"), ("echo", "chat"), ("arithmetic", "chat"),
        ("one-word", "completions"),
    }  # fmt: skip
    for probe in report.probes:
        assert probe.http_status == 200 and probe.error is None, probe
        assert probe.reply.strip() and probe.completion_tokens >= 1, probe
        assert {c.name for c in probe.checks} == {"empty", "artifacts", "repetition", "truncated"}
        assert next(c for c in probe.checks if c.name == "empty").ok
        # vLLM leaves the tokenizer's special tokens (<s>, </s>) out of the text.
        assert next(c for c in probe.checks if c.name == "artifacts").ok, probe
    # Whatever shape the random text has, it is measured and shown, not hidden.
    repetition = [next(c for c in p.checks if c.name == "repetition") for p in report.probes]
    assert all(c.ratio is not None for c in repetition)
    if report.failing:
        assert report.not_judged in result.notes


def test_autopilot_finds_the_length_a_real_server_starts_with(
    config: RunnerConfig, launched: list[Server], models: Models, triager: Triager
) -> None:
    """Beyond the config: the doctor blocks it before launch, and the ladder relaunches at
    the config's length, which a real server starts with and answers."""
    base = JobSpec(
        playbook="smoke",
        model=str(models.healthy),
        args=(*TINY[:4], "--max-model-len", "100000", "--enforce-eager"),
    )
    ladder = run_ladder(base, config, triager.triage)
    assert [s.result.status for s in ladder.steps] == ["blocked", "passed"], ladder
    assert ladder.steps[1].spec.fallback == "max-model-len=2048"
    assert ladder.done.outcome == "works" and ladder.done.best is not None
    _, _, line = ladder_command(ladder.done.best.spec)
    assert "--max-model-len 2048" in line and "100000" not in line


def test_autopilot_on_a_false_ready_that_eager_shares_is_no_config(
    config: RunnerConfig, launched: list[Server], models: Models, triager: Triager
) -> None:
    ladder = run_ladder(
        JobSpec(playbook="smoke", model=str(models.head_dim_16), args=TINY), config, triager.triage
    )
    assert [s.spec.playbook for s in ladder.steps] == ["smoke", "eager"], ladder
    assert ladder.done.outcome == "no_config" and "code problem" in ladder.done.why
    first = ladder.steps[0].result.first_error
    assert first is not None and "head_dim=16" in first.signature
    assert not [s for s in launched if s.popen.poll() is None], "no server left running"
