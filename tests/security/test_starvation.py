"""Jobs nobody can take do not hide the ones somebody can, and one person cannot fill the
queue (red team: 1000 jobs for an offline label hid every later job until they timed out).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from pydantic import ValidationError

from bot.settings import Settings
from bot.slack.runs import Dispatcher
from runners import JobSpec, Status
from runners.store.jobstore import JobStore

HIDDEN = 1001  # the old matching looked at the oldest 1000 queued jobs only


def spec(*labels: str) -> JobSpec:
    return JobSpec(playbook="smoke", model="org/m", labels=labels)


def test_jobs_for_an_offline_label_do_not_hide_a_later_job(store: JobStore) -> None:
    a2 = store.register(store.agent_for(store.add_agent("npu-a2", ["a2"])), ("a2",), "h", "1", 1)
    store.add_agent("npu-a3", ["a3"])  # offline
    for n in range(HIDDEN):
        store.submit(spec("a3"), requested_by=f"U{n}")
    later = store.submit(spec("a2"))
    leased = store.lease(a2)
    assert leased is not None and leased.id == later.id
    assert store.lease(a2) is None, "and nothing for a3 on the way"


def test_one_person_may_keep_only_so_many_jobs_queued(store: JobStore) -> None:
    me = store.register(store.agent_for(store.add_agent("npu")), (), "h", "1", 1)
    for _ in range(3):
        assert store.queue_refusal("U1", 3) is None
        store.submit(spec(), requested_by="U1")
    refusal = store.queue_refusal("U1", 3)
    assert refusal is not None and "3 jobs queued" in refusal and "/runners" in refusal
    assert store.queue_refusal("U2", 3) is None, "the cap is per person"
    job = store.lease(me)
    assert job is not None and job.status is Status.RUNNING
    assert store.queue_refusal("U1", 3) is None, "a job that started no longer counts"


def test_the_cap_is_a_setting_with_a_sensible_default() -> None:
    assert Settings(_env_file=None).max_queued_per_user == 20  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, max_queued_per_user=0)  # type: ignore[call-arg]


def test_a_dispatch_over_the_cap_is_refused_and_audited(store: JobStore) -> None:
    settings = Settings(_env_file=None, dispatch_users=["U1"], max_queued_per_user=2)  # type: ignore[call-arg]
    store.add_agent("npu")
    # No channel: nothing is posted, so no Slack client is needed.
    dispatcher = Dispatcher(settings, store, cast(Any, None))

    def dispatch() -> tuple[object, str]:
        return dispatcher.dispatch(
            spec(), user="U1", channel=None, thread_ts=None, team_id=None, source="slash"
        )

    assert dispatch()[0] is not None and dispatch()[0] is not None
    job, why = dispatch()
    assert job is None and "2 jobs queued" in why
    assert store.dispatches()[0]["allowed"] is False and store.dispatches()[0]["reason"] == why
