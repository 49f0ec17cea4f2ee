"""Known-good replies and graph vs eager, without a server: what identifies a checkpoint,
how two reply sets differ, when a difference fails a run, and the two places replies are
kept (`run`'s file, the coordinator's table on SQLite and PostgreSQL) and reached (the
coordinator's result route)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from runners import FileBook, JobSpec, RunResult, coordinator_app, parse_command, settle_replies
from runners.coordinator import PREFIX
from runners.replies.golden import ReplySet, launch_config, reply_set
from runners.run.answer_report import BAD_ANSWER_FACT, QUALITY, AnswerReport, ProbeAnswer
from runners.run.comparisons import GRAPH_DIFFERS, first_difference
from runners.run.revision import folder_revision, hub_revision, model_key, revision
from runners.store.jobstore import JobStore
from runners.store.records import Job
from runners.store.reply_sets import ReplyStore

CLEAN = {"one-word": "Paris", "echo": "blue river stone", "arithmetic": "42"}
STACK = {"vllm": "0.11.0", "vllm_ascend": "0.11.0rc1"}


def run_of(
    replies: dict[str, str] = CLEAN,
    status: str = "passed",
    rev: str = "main",
    versions: dict[str, str] = STACK,
) -> RunResult:
    probes = [
        ProbeAnswer(probe=name, endpoint="chat", prompt=f"ask {name}", max_tokens=16,
                    http_status=200, reply=text, finish_reason="stop", completion_tokens=3)
        for name, text in replies.items()
    ]  # fmt: skip
    packages = {name: {"version": v, "path": None} for name, v in versions.items()}
    verdict = "passed: ready, and the smoke requests were answered" if status == "passed" else ""
    return RunResult(
        playbook="smoke",
        status=status,
        phase="text smoke",
        verdict=verdict,
        answers=AnswerReport(probes=probes, revision=rev),
        environment={"packages": packages},
    )


def spec(*args: str, golden: bool = False, playbook: str = "smoke") -> JobSpec:
    return JobSpec(playbook=playbook, model="Qwen/Qwen3-8B", args=args, record_golden=golden)  # type: ignore[arg-type]


@pytest.fixture
def book(tmp_path: Path) -> FileBook:
    return FileBook.under(tmp_path / "runner")


# --- what identifies a checkpoint --------------------------------------------------------


def _checkpoint(folder: Path, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"architectures": ["Qwen3ForCausalLM"]}')
    (folder / "model-00001-of-00001.safetensors").write_bytes(weights)
    return folder


def test_a_copy_is_the_same_revision_and_a_fine_tune_of_the_same_size_is_not(
    tmp_path: Path,
) -> None:
    base = _checkpoint(tmp_path / "a" / "Qwen3-8B", bytes(range(256)) * 1024)
    copy = tmp_path / "b" / "Qwen3-8B"
    shutil.copytree(base, copy)  # new mtimes, same bytes
    tuned = _checkpoint(tmp_path / "c" / "Qwen3-8B", bytes(reversed(range(256))) * 1024)
    assert folder_revision(base) == folder_revision(copy)
    assert folder_revision(base) != folder_revision(tuned)  # same size, other weights
    (copy / "config.json").write_text('{"architectures": ["Qwen3ForCausalLM"], "x": 1}')
    assert folder_revision(base) != folder_revision(copy)
    assert model_key(str(base)) == "Qwen3-8B" == model_key(str(copy))
    assert revision(str(tmp_path / "missing"), ()) == ""  # nothing is filed by it


def test_a_hub_name_is_filed_by_its_revision_flag_in_either_spelling() -> None:
    assert hub_revision(["--revision", "abc123"]) == "abc123"
    assert hub_revision(["--dtype", "half", "--revision=v2"]) == "v2"
    assert hub_revision([]) == "main"
    assert model_key("Qwen/Qwen3-8B") == "Qwen/Qwen3-8B"


def test_the_config_leaves_out_the_mode_and_names_and_keeps_numerics() -> None:
    mode, config = launch_config(
        spec("--dtype", "float16", "--served-model-name", "x", "--enforce-eager")
    )
    assert mode == "eager" and config == ["--dtype float16"]
    assert launch_config(spec(playbook="eager"))[0] == "eager"
    fallback = JobSpec(playbook="fallback", model="m/m", fallback="hccl-aiv")
    assert launch_config(fallback) == ("graph", ["HCCL_OP_EXPANSION_MODE=AIV"])


def test_record_golden_is_a_slash_command_word_and_round_trips() -> None:
    parsed = parse_command("smoke", "Qwen/Qwen3-8B --record-golden --revision abc --dtype half")
    assert parsed.record_golden and parsed.args == ("--revision", "abc", "--dtype", "half")
    assert "--record-golden" in parsed.describe()
    assert not parse_command("smoke", "Qwen/Qwen3-8B").record_golden


@pytest.mark.parametrize(
    ("a", "b", "at"),
    [("42", "43", 1), ("Paris", "Paris.", 5), ("", "x", 0), ("北京", "上海", 0), ("ab", "ab", 2)],
)
def test_the_first_difference_is_where_two_replies_part(a: str, b: str, at: int) -> None:
    assert first_difference(a, b) == at


# --- when a difference fails a run -------------------------------------------------------


def test_a_recorded_run_is_compared_by_the_next_and_a_change_on_the_same_config_fails(
    book: FileBook,
) -> None:
    first = settle_replies(run_of(), spec(golden=True), book)
    assert first.status == "passed" and any("known-good replies recorded" in n for n in first.notes)

    same = settle_replies(run_of(), spec(), book)
    assert same.status == "passed" and same.answers is not None
    [match] = same.answers.comparisons
    assert not match.differs and match.headline().startswith("answers match the known-good run")

    wrong = settle_replies(run_of({**CLEAN, "arithmetic": "43"}), spec(), book)
    assert wrong.status == "failed" and wrong.answers is not None
    assert wrong.verdict.startswith("failed: output quality: answers differ from the known-good")
    assert "same weights, flags and versions" in wrong.verdict
    assert wrong.first_error is not None and wrong.first_error.signature == QUALITY
    assert "known-good: '42'" in wrong.first_error.lines and "now: '43'" in wrong.first_error.lines
    assert BAD_ANSWER_FACT in wrong.facts  # triaged to the runbook's quality entry
    assert wrong.next is not None and wrong.next.playbook == "eager"
    [diff] = wrong.answers.comparisons[0].diffs
    assert (diff.probe, diff.then, diff.now, diff.at) == ("arithmetic", "42", "43", 1)


def test_a_changed_dtype_or_stack_is_reported_but_does_not_fail(book: FileBook) -> None:
    settle_replies(run_of(), spec(golden=True), book)
    other = settle_replies(run_of({**CLEAN, "echo": "blue stone"}), spec("--dtype", "half"), book)
    assert other.status == "passed" and other.answers is not None
    [comparison] = other.answers.comparisons
    assert comparison.differs and not comparison.fails
    assert comparison.changed == ["flags: --dtype half (known-good: none)"]
    assert "answers differ from the known-good run of" in other.verdict
    upgraded = run_of({**CLEAN, "echo": "stone"}, versions={**STACK, "vllm": "0.12.0"})
    moved = settle_replies(upgraded, spec(), book)
    assert moved.status == "passed", moved.verdict
    assert moved.answers and moved.answers.comparisons[0].changed == [
        "vllm 0.12.0 (known-good: 0.11.0)"
    ]


def test_recording_again_replaces_the_known_good_replies_without_failing(book: FileBook) -> None:
    settle_replies(run_of(), spec(golden=True), book)
    again = settle_replies(run_of({**CLEAN, "one-word": "Lyon"}), spec(golden=True), book)
    assert again.status == "passed" and again.answers is not None
    assert "replace the known-good ones" in again.answers.comparisons[0].note
    now = settle_replies(run_of({**CLEAN, "one-word": "Lyon"}), spec(), book)
    assert now.status == "passed" and not now.answers.comparisons[0].differs  # type: ignore[union-attr]


def test_a_failed_run_is_not_recorded_as_known_good(book: FileBook) -> None:
    failed = settle_replies(run_of(status="failed"), spec(golden=True), book)
    assert any("no known-good replies recorded: the run failed" in n for n in failed.notes)
    assert book.golden("Qwen/Qwen3-8B", "main") is None


def test_graph_beside_eager_is_its_own_finding_and_does_not_fail(book: FileBook) -> None:
    settle_replies(run_of(), spec(playbook="eager"), book)
    graph = settle_replies(run_of({**CLEAN, "arithmetic": "4 2"}), spec(), book)
    assert graph.status == "passed" and graph.answers is not None
    [comparison] = graph.answers.comparisons
    assert comparison.kind == "graph-vs-eager" and comparison.headline().startswith(GRAPH_DIFFERS)
    assert (comparison.then_label, comparison.now_label) == ("eager", "graph")
    assert comparison.matched == ["one-word (chat)", "echo (chat)"]
    assert GRAPH_DIFFERS in graph.verdict
    # Another flag is another config: not compared with that eager run.
    alone = settle_replies(run_of(), spec("--max-model-len", "4096"), book)
    assert alone.answers is not None and alone.answers.comparisons == []


def test_when_the_known_good_run_is_the_other_mode_it_is_compared_once(book: FileBook) -> None:
    settle_replies(run_of(), spec(playbook="eager", golden=True), book)
    graph = settle_replies(run_of({**CLEAN, "echo": "blue"}), spec(), book)
    assert graph.answers is not None
    [comparison] = graph.answers.comparisons
    assert comparison.kind == "graph-vs-eager" and "the known-good run" in comparison.against


def test_hostile_replies_are_bounded_and_a_bad_revision_files_nothing(book: FileBook) -> None:
    huge = run_of({f"p{i}": "x" * 50_000 for i in range(20)})
    kept = reply_set(huge, spec())
    assert kept is not None and len(kept.replies) == 8
    assert all(len(r.reply) <= 2000 for r in kept.replies)
    assert reply_set(run_of(rev="../../etc\n"), spec()) is None
    settled = settle_replies(run_of(rev="bad rev"), spec(golden=True), book)
    assert settled.status == "passed" and not book.path.exists()


def test_an_unreadable_replies_file_is_a_note_not_a_lost_verdict(book: FileBook) -> None:
    book.path.parent.mkdir(parents=True)
    book.path.write_text("{not json")
    settled = settle_replies(run_of(), spec(), book)
    assert settled.status == "passed"
    assert any("not compared with earlier runs" in n and "move it away" in n for n in settled.notes)


# --- the coordinator's table, and its result route ---------------------------------------


@pytest.fixture
def jobs(store: JobStore) -> JobStore:
    return store  # the coordinator's store (tests/runners/conftest.py), by its role here


def _set(reply: str, mode: str = "graph", config: tuple[str, ...] = ()) -> ReplySet:
    found = reply_set(run_of({**CLEAN, "echo": reply}), spec(*config))
    assert found is not None
    return found.model_copy(update={"mode": mode, "recorded_at": datetime.now(UTC)})


def test_reply_sets_round_trip_and_replace_their_predecessors(jobs: JobStore) -> None:
    store = ReplyStore(jobs.engine)
    assert store.golden("Qwen/Qwen3-8B", "main") is None
    store.keep(_set("one"), golden=True)
    store.keep(_set("two"), golden=False)
    store.keep(_set("eager", mode="eager"), golden=False)
    store.keep(_set("half", config=("--dtype", "half")), golden=False)
    golden = store.golden("Qwen/Qwen3-8B", "main")
    assert golden is not None and golden.replies[1].reply == "one"
    latest = store.latest("Qwen/Qwen3-8B", "main", "graph", _set("x").config_key)
    assert latest is not None and latest.replies[1].reply == "two"
    eager = store.latest("Qwen/Qwen3-8B", "main", "eager", _set("x").config_key)
    assert eager is not None and eager.replies[1].reply == "eager"
    assert store.golden("Qwen/Qwen3-8B", "other") is None
    with jobs.engine.connect() as c:  # one known-good and one latest per mode and config
        assert c.exec_driver_sql("SELECT count(*) FROM runner_replies").scalar_one() == 4


def _deliver(
    client: TestClient, jobs: JobStore, token: str, job_spec: JobSpec, result: RunResult
) -> tuple[Job, str]:
    """Submit, lease and finish one job through the coordinator's routes, as an agent."""
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"{PREFIX}/agents/register", json={"labels": []}, headers=auth).is_success
    job = jobs.submit(job_spec)
    leased = client.post(f"{PREFIX}/lease", json={"wait_s": 0}, headers=auth).json()
    assert leased["id"] == job.id
    body = result.model_dump(mode="json")
    done = client.post(f"{PREFIX}/jobs/{job.id}/result", json=body, headers=auth)
    assert done.status_code == 200
    stored = jobs.job(job.id)
    assert stored is not None and stored.result is not None
    return stored, str(done.json()["status"])


def test_the_coordinator_keeps_the_known_good_replies_and_judges_the_next_result(
    jobs: JobStore,
) -> None:
    client = TestClient(coordinator_app(jobs))
    token = jobs.add_agent("npu-01")
    # The agent's copy of the spec says nothing: the job as dispatched asks to record.
    first, _ = _deliver(client, jobs, token, spec(golden=True), run_of())
    assert first.result is not None
    assert any("known-good replies recorded" in n for n in first.result.notes)
    second, status = _deliver(client, jobs, token, spec(), run_of({**CLEAN, "arithmetic": "41"}))
    assert status == "failed" and second.result is not None
    result = second.result
    assert "answers differ from the known-good run" in result.verdict
    assert f"(job {first.id})" in result.verdict
    assert result.first_error is not None and result.first_error.signature == QUALITY
