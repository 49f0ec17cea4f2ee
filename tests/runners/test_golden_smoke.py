"""Known-good replies and graph vs eager end to end against the fake `vllm`: the replies a
run records are what the next run is compared with; a changed build on the same flags fails
and a changed dtype is only reported; graph mode that answers other (clean or garbled)
text than eager says so in the later run's verdict, both replies side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runners import FileBook, JobSpec, RunnerConfig, RunResult, run_playbook, settle_replies
from runners.run.comparisons import GRAPH_DIFFERS
from tests.runners.test_run_cli import run as cli_run


def smoke(config: RunnerConfig, scenario: str, *args: str, **spec: object) -> RunResult:
    job = JobSpec(model=f"fake/{scenario}", args=args, **{"playbook": "smoke", **spec})  # type: ignore[arg-type]
    result = run_playbook(job, config)
    assert result.cleanup == "clean", result.cleanup
    return settle_replies(result, job, FileBook.under(config.work_dir))


def test_known_good_replies_are_recorded_and_a_changed_build_fails_a_changed_dtype_does_not(
    runner_config: RunnerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = smoke(runner_config, "healthy", record_golden=True)
    assert recorded.status == "passed", recorded.verdict
    assert recorded.answers is not None and recorded.answers.revision == "main"

    monkeypatch.setenv("FAKE_VLLM_REPLY_SALT", "another build")  # same flags, other answers
    changed = smoke(runner_config, "healthy")
    assert changed.status == "failed"
    assert "answers differ from the known-good run of" in changed.verdict
    assert changed.first_error is not None and changed.first_error.signature == "output quality"
    assert changed.answers is not None
    diffs = changed.answers.comparisons[0].diffs
    assert {d.probe for d in diffs} >= {"one-word", "echo", "arithmetic"}

    monkeypatch.delenv("FAKE_VLLM_REPLY_SALT")
    half = smoke(runner_config, "healthy", "--dtype", "float16")
    assert half.status == "passed", half.verdict
    assert half.answers is not None and half.answers.comparisons[0].differs
    assert half.answers.comparisons[0].changed == ["flags: --dtype float16 (known-good: none)"]


def test_graph_mode_that_answers_other_clean_words_is_its_own_finding(
    runner_config: RunnerConfig,
) -> None:
    eager = smoke(runner_config, "graph-drifts", playbook="eager")
    assert eager.status == "passed" and eager.answers and not eager.answers.comparisons
    graph = smoke(runner_config, "graph-drifts")
    assert graph.status == "passed", graph.verdict  # clean answers: the checks pass
    assert GRAPH_DIFFERS in graph.verdict
    assert graph.answers is not None
    [comparison] = graph.answers.comparisons
    assert comparison.then_label == "eager" and comparison.now_label == "graph"
    diff = comparison.diffs[0]
    assert diff.then != diff.now and diff.then[: diff.at] == diff.now[: diff.at]


def test_garbled_graph_replies_are_shown_beside_eager_in_the_eager_verdict(
    runner_config: RunnerConfig,
) -> None:
    graph = smoke(runner_config, "graph-garbles")
    assert graph.status == "failed"
    eager = smoke(runner_config, "graph-garbles", playbook="eager")
    assert eager.status == "passed"
    assert eager.answers is not None
    [comparison] = eager.answers.comparisons
    assert comparison.kind == "graph-vs-eager" and comparison.differs
    assert all(d.then == "!" * 16 and "!" not in d.now for d in comparison.diffs)


def test_run_record_golden_then_the_next_run_says_the_answers_match(tmp_path: Path) -> None:
    first = cli_run(tmp_path, "smoke", "--model", "fake/healthy", "--record-golden")
    assert first.returncode == 0, first.stderr
    assert "known-good replies recorded for fake/healthy" in first.stdout
    again = cli_run(tmp_path, "smoke", "--model", "fake/healthy", "--json")
    assert again.returncode == 0, again.stderr
    comparisons = json.loads(again.stdout)["answers"]["comparisons"]
    assert [c["kind"] for c in comparisons] == ["known-good"] and comparisons[0]["diffs"] == []
    assert (tmp_path / "runner" / "replies.json").is_file()
