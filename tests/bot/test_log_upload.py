"""The job's server log as a file in its thread: sent by a real agent with the verdict,
uploaded with Slack's files upload v2 (through the fake Slack) after the verdict, once,
redacted and cut to the cap, and retried on a later round when the upload failed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.oncall import Oncall
from bot.slack.reporter import Reporter
from runners import RunResult
from runners.store.joblogs import JobLog
from tests.bot.conftest import FORM, dispatch, slack_settings
from tests.bot.test_slack_runs import Runs, _blocks, _in_slack, _text, _wait_verdict
from tests.fakes import slack_payloads as p
from tests.fakes.slack import FakeSlack

SECRET = "hf_" + "Zq9Xw8Vu7Ts6Rq5Po4Nm"


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


def _uploaded(fake: FakeSlack, count: int = 1) -> list[tuple[dict[str, object], bytes]]:
    done = fake.wait_for("files.completeUploadExternal", count, timeout=40)
    return [
        (c.args, fake.uploads[str(c.response["files"][0]["id"])])  # type: ignore[index]
        for c in done
        if c.response.get("ok")
    ]


def _posted(runs: Runs, job_id: int) -> JobLog:
    """The job's log once its upload is recorded (just after Slack answered)."""
    deadline = time.monotonic() + 10
    while (kept := runs.store.log(job_id)) is None or kept.posted_at is None:
        assert time.monotonic() < deadline, f"log of job {job_id} never recorded as posted"
        time.sleep(0.05)
    return kept


def test_the_verdict_is_followed_by_the_redacted_server_log_in_its_thread(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.start_agent("a2")
    text = f"fake/capture-507903 --served-model-name {SECRET} on a2"
    dispatch(runs.app, p.slash("/smoke", text, f"{fake_slack.url}/respond/1"), FORM)
    (status,) = fake_slack.wait_for("chat.postMessage")
    thread = status.response["ts"]
    verdict = _wait_verdict(fake_slack, thread)
    assert "FAILED" in _text(_blocks(verdict))

    ((args, content),) = _uploaded(fake_slack)
    assert args["channel_id"] == status.args["channel"] and args["thread_ts"] == thread
    assert "Server log of job 1 (redacted)" in str(args["initial_comment"])
    log = content.decode()
    assert "507903" in log, "the log's own error is in the file"
    assert "non-default args" in log and SECRET not in log and "[redacted]" in log
    (asked,) = fake_slack.of("files.getUploadURLExternal")
    assert asked.args["filename"] == "job-1-capture-507903.log"
    order = [c.method for c in fake_slack.calls]
    assert order.index("files.getUploadURLExternal") > order.index("chat.postMessage", 1)

    # Once it is recorded as posted, later rounds and a second replica's reporter upload
    # nothing more (an upload still in flight is the first reporter's until retry_after_s).
    _posted(runs, 1)
    second = Reporter(runs.dispatcher, 0.05)
    second.logs.retry_after_s = 0.0  # even with no wait, a posted log is never offered again
    for _ in range(3):
        second.once()
    fake_slack.quiet_for(0.5)
    assert len(fake_slack.of("files.completeUploadExternal")) == 1
    assert _posted(runs, 1).file_id


def test_a_log_over_the_cap_is_cut_with_a_note_and_the_comment_says_so(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.store.max_log_bytes = 4096  # told to the agent when it registers
    runs.start_agent("a2")
    dispatch(runs.app, p.slash("/smoke", "fake/healthy on a2", f"{fake_slack.url}/respond/1"), FORM)
    ((args, content),) = _uploaded(fake_slack)
    assert len(content) <= 4096
    log = content.decode()
    assert "bytes cut here: the log was" in log
    job = runs.store.job(1)
    assert job is not None and job.result is not None and job.result.log_path
    lines = Path(job.result.log_path).read_text().splitlines()
    assert log.startswith(lines[0] + "\n") and log.endswith(lines[-1] + "\n"), "start and end"
    assert re.search(r"cut to [\d.]+ KB of [\d.]+ KB", str(args["initial_comment"]))
    kept = runs.store.log(1)
    assert kept is not None and kept.total_bytes > 4096


def _finished_with_log(runs: Runs, text: bytes) -> int:
    job = _in_slack(runs, "1700000000.000100")
    agent = runs.store.register(runs.store.agent_for(runs.store.add_agent("npu")), (), "h", "1", 1)
    runs.store.lease(agent)
    runs.store.put_log(agent, job.id, text, len(text))
    runs.store.finish(
        agent, job.id, RunResult(playbook="smoke", status="failed", phase="text smoke")
    )
    return job.id


def test_a_failed_upload_never_holds_the_verdict_and_is_retried_on_a_later_round(
    runs: Runs, fake_slack: FakeSlack
) -> None:
    runs.stop.set()  # the fixture's own reporter steps aside
    time.sleep(0.3)
    job_id = _finished_with_log(runs, b"INFO the log\nERROR it broke\n")
    reporter = Reporter(runs.dispatcher)
    reporter.logs.retry_after_s = 0.5
    fake_slack.failing["upload"] = 1  # the upload host answers 500 once
    reporter.once()
    verdicts = [c for c in fake_slack.of("chat.postMessage") if c.args.get("thread_ts")]
    assert len(verdicts) == 1, "the verdict is posted whatever the upload does"
    fake_slack.quiet_for(0.3)
    assert not fake_slack.of("files.completeUploadExternal")
    reporter.once()
    fake_slack.quiet_for(0.2)
    assert not fake_slack.of("files.completeUploadExternal"), "not at once: it may be in flight"
    time.sleep(0.5)
    reporter.once()
    ((args, content),) = _uploaded(fake_slack)
    assert content == b"INFO the log\nERROR it broke\n"
    assert args["thread_ts"] == "1700000000.000100"
    assert _posted(runs, job_id).tries == 2


def test_a_refusal_that_will_not_change_is_not_retried(
    runs: Runs, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    runs.stop.set()
    time.sleep(0.3)
    job_id = _finished_with_log(runs, b"INFO the log\n")
    reporter = Reporter(runs.dispatcher)
    reporter.logs.retry_after_s = 0.3
    original = fake_slack.answer

    def no_scope(method: str, args: dict[str, object]) -> dict[str, object]:
        if method == "files.getUploadURLExternal":
            return {"ok": False, "error": "missing_scope"}
        return original(method, args)

    fake_slack.answer = no_scope  # type: ignore[method-assign]
    reporter.once()
    fake_slack.wait_for("files.getUploadURLExternal")
    fake_slack.quiet_for(0.3)
    for _ in range(3):  # each past the time a try may take
        time.sleep(0.35)
        reporter.once()
    fake_slack.quiet_for(0.3)
    assert len(fake_slack.of("files.getUploadURLExternal")) == 1
    assert "files:write" in caplog.text
    kept = runs.store.log(job_id)
    assert kept is not None and kept.posted_at is None
