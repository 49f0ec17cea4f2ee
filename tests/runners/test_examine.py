"""The doctor before a launch and as its own job: what blocks, what only warns, what is
left alone; the runbook entry a blocked run names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from runners import JobSpec, RunnerConfig, RunResult, parse_command, run_playbook
from runners.autopilot.local import run_ladder
from runners.run.examine import examine, summary
from tests.doctor.conftest import edit_config, make_checkpoint
from tests.runners.conftest import FAKE_CMD

QK_NORM = "qk-norm-mismatch-kv-heads-tp-head-divisibility"
MAX_LEN = "config-max-length-works-on-paper-but-not-in-runtime"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_checkpoint(tmp_path / "model")


def spec(model: Path | str, playbook: str = "smoke", *args: str, **more: object) -> JobSpec:
    return JobSpec(playbook=playbook, model=str(model), args=args, **more)  # type: ignore[arg-type]


def test_kv_heads_that_do_not_divide_block_the_launch_with_the_qk_norm_entry(model: Path) -> None:
    edit_config(model, num_key_value_heads=3)
    found = examine(spec(model, "smoke", "--tensor-parallel-size", "2"), FAKE_CMD)
    assert found.blocked and "KV heads" in found.blocked
    assert found.triage is not None and found.triage.verdict == "match"
    top = found.triage.top
    assert top is not None and top.entry_id == QK_NORM and top.actions


def test_the_launch_flags_count_eager_and_fallbacks_included(model: Path) -> None:
    """The fallback's own --max-model-len is what the server would get: judged as such."""
    long = examine(spec(model, "fallback", fallback="max-model-len=9000"), FAKE_CMD)
    assert long.triage and long.triage.top and long.triage.top.entry_id == MAX_LEN
    assert examine(spec(model, "fallback", fallback="max-model-len=1024"), FAKE_CMD).blocked is None


def test_a_healthy_folder_passes_and_a_hub_name_is_not_examined(model: Path) -> None:
    ok = examine(spec(model), FAKE_CMD)
    assert ok.blocked is None and ok.report is not None and ok.report.ok
    assert summary(ok.report).startswith("doctor: no problem found")
    hub = examine(spec("Qwen/Qwen3-8B"), FAKE_CMD)
    assert hub.report is None and hub.blocked is None  # the server fetches it: nothing here


def test_no_doctor_launches_without_examining_but_a_doctor_job_always_examines(
    model: Path,
) -> None:
    edit_config(model, num_key_value_heads=3)
    skipped = examine(spec(model, "smoke", "--tensor-parallel-size", "2", no_doctor=True), FAKE_CMD)
    assert skipped.report is None and skipped.blocked is None
    asked = examine(spec(model, "doctor", "--tensor-parallel-size", "2", no_doctor=True), FAKE_CMD)
    assert asked.blocked and asked.report is not None
    assert examine(spec("Qwen/Qwen3-8B", "doctor"), FAKE_CMD).blocked  # nothing to read


def test_a_folder_the_doctor_cannot_read_blocks_with_its_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    found = examine(spec(empty), FAKE_CMD)
    assert found.blocked and "config" in found.blocked


def test_slash_commands_take_no_doctor_and_say_it_back() -> None:
    job = parse_command("smoke", "/models/qwen --no-doctor --tensor-parallel-size 2")
    assert job.no_doctor and "--no-doctor" not in job.args
    assert "--no-doctor" in job.describe()
    assert parse_command("doctor", "/models/qwen --max-model-len 4096").playbook == "doctor"
    probe = parse_command("smoke", "Qwen/Qwen3-8B --probe-max-len --max-model-len 32768")
    assert probe.probe_max_len and probe.args == ("--max-model-len", "32768")
    assert "--probe-max-len" in probe.describe()


def run(config: RunnerConfig, job: JobSpec) -> RunResult:
    """On a host whose operator allows the model's parent folder (ONCALL_MODEL_ROOTS)."""
    return run_playbook(job, replace(config, model_roots=(str(Path(job.model).parent),)))


def test_a_run_the_doctor_blocks_never_launches_and_names_the_entry(
    runner_config: RunnerConfig, model: Path
) -> None:
    edit_config(model, num_key_value_heads=3)
    result = run(runner_config, spec(model, "smoke", "--tensor-parallel-size", "2"))
    assert result.status == "blocked" and result.log_path is None and not result.argv
    assert result.doctor is not None and not result.doctor.ok
    assert result.triage and result.triage.top and result.triage.top.entry_id == QK_NORM
    # The bot's triage of the run keeps the doctor's answer rather than searching again.
    assert result.triaged(lambda *a, **k: pytest.fail("searched")) == result.triage


def test_a_doctor_job_examines_and_launches_nothing(
    runner_config: RunnerConfig, model: Path
) -> None:
    result = run(runner_config, spec(model, "doctor"))
    assert result.status == "passed" and result.log_path is None and not result.argv
    assert result.doctor is not None and result.doctor.ok
    assert result.verdict.startswith("doctor: no problem found")
    assert result.next is not None and result.next.playbook == "smoke"  # now launch it
    edit_config(model, max_position_embeddings=512)
    failed = run(runner_config, spec(model, "doctor", "--max-model-len", "4096"))
    assert failed.status == "failed"
    assert failed.next is not None and failed.next.fallback == "max-model-len=512"
    assert failed.triage and failed.triage.top and failed.triage.top.entry_id == MAX_LEN


def test_a_healthy_folder_is_launched_with_the_doctor_s_report_in_the_result(
    runner_config: RunnerConfig, model: Path
) -> None:
    result = run(runner_config, spec(model))
    assert result.status == "passed"
    assert result.doctor is not None and result.doctor.ok


def test_the_autopilot_takes_the_fallback_the_doctor_names(
    runner_config: RunnerConfig, model: Path
) -> None:
    """A length beyond the config is blocked before launch, and the ladder relaunches at the
    config's length instead of giving up."""
    config = replace(runner_config, model_roots=(str(model.parent),))
    base = spec(model, "smoke", "--max-model-len", "9000")
    ladder = run_ladder(base, config)
    assert [s.result.status for s in ladder.steps] == ["blocked", "passed"]
    assert ladder.steps[1].spec.fallback == "max-model-len=2048"
    assert ladder.done.outcome == "works"
    hopeless = make_checkpoint(model.parent / "kv3")
    edit_config(hopeless, num_key_value_heads=3)
    stopped = run_ladder(spec(hopeless, "smoke", "--tensor-parallel-size", "2"), config)
    assert stopped.done.outcome == "no_config" and len(stopped.steps) == 1
    assert "doctor" in stopped.done.why
