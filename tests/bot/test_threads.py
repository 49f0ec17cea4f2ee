"""The bot's record of runner jobs in Slack (bot_run_threads), on SQLite and on a real
PostgreSQL: each status message is posted by one replica, each change and each verdict
shown once, and a job's log uploaded after its verdict, by one replica at a time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.store import open_store
from bot.slack.threads import RunThreads, origin
from runners import JobSpec, JobStore, RunResult, open_jobs
from tests.databases import KINDS, database


@pytest.fixture(params=KINDS)
def threads(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunThreads]:
    with database(request.param, tmp_path) as url:
        bot = open_store(url)  # as `serve` does: the bot's tables, then the runners'
        jobs = open_jobs(url, lease_s=60)
        try:
            yield RunThreads(jobs)
        finally:
            jobs.engine.dispose()
            bot.engine.dispose()


def _posted(threads: RunThreads, thread: str | None = None) -> int:
    """A job asked for in channel C1, its status message posted: its id."""
    job = threads.jobs.submit(
        JobSpec(playbook="smoke", model="org/m"), origin=origin("C1", thread, "T1")
    )
    where = threads.claim_post(job)
    assert where is not None and where.channel_id == "C1" and where.message_ts == ""
    threads.set_message(job.id, "1700000000.000001")
    return job.id


def _leased(store: JobStore, job_id: int) -> str:
    token = store.add_agent("npu-1")
    agent = store.register(store.agent_for(token), (), "h", "1", 1)
    leased = store.lease(agent)
    assert leased is not None and leased.id == job_id
    return token


def test_a_status_message_is_posted_by_one_replica_and_only_for_slack_jobs(
    threads: RunThreads,
) -> None:
    store = threads.jobs
    job = store.submit(JobSpec(playbook="smoke", model="org/m"), origin=origin("C1", "1.2", None))
    quiet = store.submit(JobSpec(playbook="smoke", model="org/m"))  # from the CLI
    assert [j.id for j in threads.unposted(older_than_s=-1)] == [job.id]
    replica_b = RunThreads(store)
    first, second = threads.claim_post(job), replica_b.claim_post(job)
    assert first is not None and second is None and first.reply_ts == "1.2"
    assert threads.claim_post(quiet) is None and threads.unposted(older_than_s=-1) == []


def test_changes_are_shown_once_across_replicas(threads: RunThreads) -> None:
    job_id = _posted(threads)
    ((changed, where),) = threads.changed()
    assert changed.id == job_id and where.message_ts == "1700000000.000001"
    assert where.reply_ts == "1700000000.000001", "no thread given: the message starts one"
    replica_b = RunThreads(threads.jobs)
    assert [threads.claim_notice(changed), replica_b.claim_notice(changed)] == [True, False]
    assert threads.changed() == []
    threads.release_notice(changed)  # Slack was away: offered again
    assert [j.id for j, _ in threads.changed()] == [job_id]


def test_a_verdict_is_shown_once(threads: RunThreads) -> None:
    store = threads.jobs
    job_id = _posted(threads, thread="1699999999.000001")
    agent = store.agent_for(_leased(store, job_id))
    done = store.finish(
        agent, job_id, RunResult(playbook="smoke", status="passed", phase="text smoke")
    )
    assert [threads.claim_verdict(done), threads.claim_verdict(done)] == [True, False]
    threads.release_verdict(done)
    assert threads.claim_verdict(done)
    where = threads.thread(job_id)
    assert where is not None and where.reply_ts == "1699999999.000001" and where.team_id == "T1"


def test_the_upload_is_offered_after_the_verdict_and_claimed_once(threads: RunThreads) -> None:
    store = threads.jobs
    job_id = _posted(threads)
    agent = store.agent_for(_leased(store, job_id))
    assert store.put_log(agent, job_id, b"INFO ready\n", 11)
    assert threads.logs_to_post(60) == [], "not before its verdict is in chat"
    job = store.finish(
        agent, job_id, RunResult(playbook="smoke", status="failed", phase="text smoke")
    )
    assert threads.claim_verdict(job)
    assert threads.logs_to_post(60) == [job_id]

    first = store.claim_log_upload(job_id, retry_after_s=60)
    assert first is not None and first.text == "INFO ready\n" and first.tries == 1
    assert store.claim_log_upload(job_id, retry_after_s=60) is None, "one replica at a time"
    assert threads.logs_to_post(retry_after_s=60) == [], "being posted"

    time.sleep(0.05)  # that try failed: offered again once its time has passed
    assert threads.logs_to_post(retry_after_s=0.01) == [job_id]
    assert store.claim_log_upload(job_id, retry_after_s=0.01) is not None
    store.log_posted(job_id, "F123")
    time.sleep(0.05)
    assert threads.logs_to_post(retry_after_s=0.01) == []
    assert store.claim_log_upload(job_id, retry_after_s=0.01) is None, "posted: never again"
    posted = store.log(job_id)
    assert posted is not None and posted.file_id == "F123" and posted.posted_at is not None


def test_a_log_chat_refuses_for_good_is_given_up(threads: RunThreads) -> None:
    store = threads.jobs
    job_id = _posted(threads)
    agent = store.agent_for(_leased(store, job_id))
    store.put_log(agent, job_id, b"log\n", 4)
    job = store.finish(
        agent, job_id, RunResult(playbook="smoke", status="passed", phase="text smoke")
    )
    threads.claim_verdict(job)
    assert store.claim_log_upload(job_id, retry_after_s=0) is not None
    store.log_given_up(job_id)
    time.sleep(0.02)
    assert threads.logs_to_post(retry_after_s=0) == []
    assert store.claim_log_upload(job_id, retry_after_s=0) is None
