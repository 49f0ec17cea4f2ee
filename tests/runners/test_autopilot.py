"""The autopilot against the fake `vllm`: each ladder ends at the best config in the fewest
rungs, never runs a config twice, stops at once where no relaunch helps, and keeps to its
bounds. After a failure the weights do not decide, the relaunches run on dummy weights and
the config that works is confirmed on the real ones."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from kb import Triager
from runners import FileBook, JobSpec, RunnerConfig, run_playbook, settle_replies
from runners.autopilot.cheap_rungs import dummy
from runners.autopilot.ladder import command, config_key
from runners.autopilot.length_probe import asked_length
from runners.autopilot.local import Ladder, run_ladder
from tests.runners.test_run_cli import run


def climb(config: RunnerConfig, model: str, triager: Triager | None = None, **kw: object) -> Ladder:
    base = JobSpec(playbook="smoke", model=model)
    ladder = run_ladder(base, config, triager.triage if triager else None, **kw)  # type: ignore[arg-type]
    keys = [config_key(s.spec) for s in ladder.steps]
    retried = [k for k in keys if keys.count(k) > 1]
    assert not retried or "host" in ladder.done.why, f"a config ran twice: {retried}"
    return ladder


def rungs(ladder: Ladder) -> list[tuple[str, str | None, str]]:
    return [(s.spec.playbook, s.spec.fallback, s.result.status) for s in ladder.steps]


def weights(ladder: Ladder) -> list[str]:
    return ["dummy" if dummy(s.spec) else "real" for s in ladder.steps]


def test_a_healthy_model_works_at_the_first_rung(runner_config: RunnerConfig) -> None:
    ladder = climb(runner_config, "fake/healthy")
    assert ladder.done.outcome == "works" and rungs(ladder) == [("smoke", None, "passed")]


def test_graph_capture_that_needs_aiv_ends_in_graph_mode_with_aiv(
    runner_config: RunnerConfig,
) -> None:
    """Capture does not depend on the weights: AIV is tried on dummy weights, then confirmed
    on the real ones, and the command to keep reads the real weights."""
    ladder = climb(runner_config, "fake/capture-507903")
    assert ladder.done.outcome == "works"
    assert rungs(ladder) == [
        ("smoke", None, "failed"),
        ("fallback", "hccl-aiv", "passed"),
        ("fallback", "hccl-aiv", "passed"),
    ]
    assert weights(ladder) == ["real", "dummy", "real"]
    assert ladder.steps[2].why.startswith("confirm on the real weights")
    assert ladder.done.confirmed is True and "confirmed on the real weights" in ladder.done.why
    best = ladder.done.best
    assert best is not None and best is ladder.steps[2]
    argv, env, line = command(best.spec)
    assert env == {"HCCL_OP_EXPANSION_MODE": "AIV"} and "--enforce-eager" not in argv
    assert "--load-format" not in argv
    assert line.startswith("HCCL_OP_EXPANSION_MODE=AIV vllm serve fake/capture-507903")


def test_the_dummy_rung_reads_no_weights(runner_config: RunnerConfig) -> None:
    """What the server printed: the dummy rung loaded nothing, the confirm read the weights."""
    ladder = climb(runner_config, "fake/capture-507903")
    logs = [Path(s.result.log_path or "").read_text() for s in ladder.steps]
    assert "load_format=dummy" in logs[1] and "Loading weights took" not in logs[1]
    assert "Loading weights took" in logs[0] and "Loading weights took" in logs[2]


def test_a_config_that_fails_on_the_real_weights_is_not_the_answer(
    runner_config: RunnerConfig,
) -> None:
    """AIV passes on dummy weights but the real ones crash its first request: the confirm
    says so, and the ladder climbs on from there on the real weights, to eager."""
    ladder = climb(runner_config, "fake/capture-real-crash")
    assert rungs(ladder)[:4] == [
        ("smoke", None, "failed"),
        ("fallback", "hccl-aiv", "passed"),
        ("fallback", "hccl-aiv", "failed"),
        ("eager", None, "passed"),
    ]
    assert weights(ladder)[:4] == ["real", "dummy", "real", "real"]
    assert ladder.done.outcome == "works" and ladder.done.confirmed is False
    best = ladder.done.best
    assert best is not None and best.spec.playbook == "eager" and not dummy(best.spec)
    assert any("passed on dummy weights only" in r for r in ladder.done.ruled_out)


def test_a_load_format_the_user_chose_is_kept(runner_config: RunnerConfig) -> None:
    base = JobSpec(playbook="smoke", model="fake/capture-507903", args=("--load-format", "auto"))
    ladder = run_ladder(base, runner_config)
    assert weights(ladder) == ["real", "real"] and ladder.done.confirmed is None
    assert [a for s in ladder.steps for a in s.spec.args].count("dummy") == 0


def test_a_ladder_the_user_runs_on_dummy_weights_says_so_and_confirms_nothing(
    runner_config: RunnerConfig,
) -> None:
    from bot.cli.autopilot import summary

    base = JobSpec(playbook="smoke", model="fake/capture-507903", args=("--load-format", "dummy"))
    ladder = run_ladder(base, runner_config)
    assert weights(ladder) == ["dummy", "dummy"] and ladder.done.confirmed is None
    assert ladder.done.outcome == "works"
    assert "dummy weights: every rung, as asked (--load-format dummy): no confirm" in summary(
        ladder
    )


def test_a_graph_only_failure_tries_to_keep_graph_mode_then_settles_for_eager(
    runner_config: RunnerConfig,
) -> None:
    ladder = climb(runner_config, "fake/graph-only-mla")
    assert rungs(ladder)[:2] == [("smoke", None, "failed"), ("eager", None, "passed")]
    assert ("fallback", "hccl-aiv") in [(p, f) for p, f, _ in rungs(ladder)], "graph kept?"
    assert ladder.done.outcome == "works" and "eager does" in ladder.done.why
    assert ladder.done.best is not None and ladder.done.best.spec.playbook == "eager"
    assert any("smoke" in r for r in ladder.done.ruled_out)


def test_kv_cache_too_small_relaunches_at_the_length_the_error_estimates(
    runner_config: RunnerConfig,
) -> None:
    ladder = climb(runner_config, "fake/kv-too-small")
    assert ladder.done.outcome == "works"
    (first, second, confirm) = ladder.steps
    assert first.result.status == "failed"
    assert second.spec.fallback is not None and second.spec.fallback.startswith("max-model-len=")
    assert weights(ladder) == ["real", "dummy", "real"], "memory is the same on dummy weights"
    assert confirm.spec.fallback == second.spec.fallback and ladder.done.best is confirm


def test_an_unknown_architecture_stops_at_once(runner_config: RunnerConfig) -> None:
    ladder = climb(runner_config, "fake/arch-unknown")
    assert ladder.done.outcome == "no_config" and len(ladder.steps) == 1
    assert "no relaunch helps" in ladder.done.why


def test_the_host_gets_one_clean_retry_then_the_ladder_stops(runner_config: RunnerConfig) -> None:
    ladder = climb(runner_config, "fake/hccl-bind")
    assert rungs(ladder) == [("smoke", None, "failed"), ("smoke", None, "failed")]
    assert ladder.done.outcome == "stopped" and "the host" in ladder.done.why


def test_a_failure_in_eager_mode_too_is_a_code_problem(runner_config: RunnerConfig) -> None:
    ladder = climb(runner_config, "fake/false-ready-fia")
    assert ladder.done.outcome == "no_config"
    assert [p for p, _, _ in rungs(ladder)] == ["smoke", "eager"]
    assert "code problem" in ladder.done.why


def test_the_ladder_keeps_to_its_steps_and_its_budget(runner_config: RunnerConfig) -> None:
    none_left = climb(runner_config, "fake/capture-507903", max_steps=0)
    assert none_left.done.outcome == "stopped" and len(none_left.steps) == 1
    spent = climb(runner_config, "fake/capture-507903", budget_s=0.0)
    assert spent.done.outcome == "timeout" and not spent.steps


def test_cancel_stops_the_rung_running_and_ends_the_ladder(runner_config: RunnerConfig) -> None:
    cancel = threading.Event()
    ladder = climb(
        runner_config,
        "fake/capture-507903",
        on_rung=lambda n, _r: n == 2 and threading.Timer(0.1, cancel.set).start(),
        cancel=cancel,
    )
    assert ladder.done.outcome == "cancelled"
    assert [s.result.status for s in ladder.steps][-1] == "cancelled"


@pytest.mark.parametrize("model", ["fake/healthy"])
def test_rungs_are_reported_as_they_start_and_end(runner_config: RunnerConfig, model: str) -> None:
    seen: list[str] = []
    climb(
        runner_config,
        model,
        on_rung=lambda n, r: seen.append(f"start {n} {r.spec.playbook}: {r.why}"),
        on_done=lambda n, s: seen.append(f"done {n} {s.result.status}"),
    )
    assert seen == ["start 1 smoke: as asked", "done 1 passed"]


def test_run_autopilot_json_names_the_working_config(tmp_path: Path) -> None:
    out = run(tmp_path, "autopilot", "--model", "fake/capture-507903", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["status"] == "works" and body["confirmed"] is True
    assert [s["status"] for s in body["steps"]] == ["failed", "passed", "passed"]
    assert [s["dummy_weights"] for s in body["steps"]] == [False, True, False]
    assert body["steps"][1]["why"].startswith("the runbook: HCCL_OP_EXPANSION_MODE=AIV")
    assert "--load-format" not in body["works"]["argv"]
    assert body["steps"][0]["triage"]["matches"][0]["entry_id"] == "acl-graph-capture-fails-507903"
    assert body["works"]["env"] == {"HCCL_OP_EXPANSION_MODE": "AIV"}
    assert "HCCL_OP_EXPANSION_MODE=AIV" in body["works"]["command"]
    assert body["ruled_out"] and "smoke" in body["ruled_out"][0]


def test_run_autopilot_says_no_relaunch_helps_with_the_runbook_entry(tmp_path: Path) -> None:
    out = run(tmp_path, "autopilot", "--model", "fake/false-ready-fia")
    assert out.returncode == 1, out.stderr
    assert "autopilot: NO_CONFIG" in out.stdout and "code problem" in out.stdout
    assert "first error:" in out.stdout and "561002" in out.stdout
    assert "Runbook match: MLA attention runtime failures after ready (" in out.stdout
    assert "rung 2: eager" in out.stderr, "the ladder is printed live"


def test_a_graph_config_that_answers_unlike_eager_is_said_so(
    runner_config: RunnerConfig, tmp_path: Path
) -> None:
    """Eager ran before (the book keeps its replies): the graph rung passes but answers
    differently at temperature 0, and the ladder says so instead of calling it plainly good."""
    book = FileBook.under(tmp_path / "book")
    eager = JobSpec(playbook="eager", model="fake/graph-drifts")
    settle_replies(run_playbook(eager, runner_config), eager, book)
    ladder = climb(runner_config, "fake/graph-drifts", book=book)
    assert ladder.done.outcome == "works"
    assert "answers differ from eager" in ladder.done.why, ladder.done.why
    clean = climb(runner_config, "fake/healthy", book=book)
    assert "starts and answers in graph mode" in clean.done.why


def test_the_length_probe_halves_the_gap_and_keeps_the_longest_that_works(
    runner_config: RunnerConfig,
) -> None:
    """The KV cache holds 2048 tokens: asked for 16384, the ladder falls back to the estimate,
    then probes the gap above it on dummy weights, each length once, within its relaunches,
    and confirms the longest that works on the real weights."""
    base = JobSpec(
        playbook="smoke",
        model="fake/kv-too-small",
        args=("--max-model-len", "16384"),
        probe_max_len=True,
    )
    ladder = run_ladder(base, runner_config)
    lengths = [asked_length(s.spec) for s in ladder.steps]
    assert lengths[:3] == [16384, 2048, 9216], lengths
    keys = [config_key(s.spec) for s in ladder.steps]
    assert len(set(keys)) == len(keys) and len(ladder.steps) <= 7
    assert all(n is not None and 2048 < n < 16384 for n in lengths[2:-1])
    assert weights(ladder)[0] == "real" and set(weights(ladder)[1:-1]) == {"dummy"}
    assert weights(ladder)[-1] == "real" and lengths[-1] == 2048, "the confirm"
    assert (
        ladder.done.outcome == "works"
        and "longest --max-model-len that works: 2048" in ladder.done.why
    )
    assert ladder.done.best is ladder.steps[-1] and ladder.done.confirmed is True


def test_no_probe_past_the_model_s_own_positions(
    runner_config: RunnerConfig, tmp_path: Path
) -> None:
    """The doctor refuses lengths beyond the config: that is a ceiling, not a gap to search."""
    from tests.doctor.conftest import make_checkpoint

    model = make_checkpoint(tmp_path / "models" / "m")
    config = replace(runner_config, model_roots=(str(model.parent),))
    base = JobSpec(
        playbook="smoke", model=str(model), args=("--max-model-len", "9000"), probe_max_len=True
    )
    ladder = run_ladder(base, config)
    assert [s.result.status for s in ladder.steps] == ["blocked", "passed"]


def test_run_autopilot_probe_max_len_reports_the_longest_length(tmp_path: Path) -> None:
    out = run(
        tmp_path, "autopilot", "--model", "fake/kv-too-small", "--probe-max-len", "--json",
        "--", "--max-model-len", "8192",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["status"] == "works" and body["max_model_len"] == 2048
    assert "--max-model-len 2048" in body["works"]["command"]
    # ... with the memory that length left the KV cache, as the server said it.
    assert "Available KV cache memory:" in body["kv_cache"]
    assert body["kv_cache"] in body["why"]
