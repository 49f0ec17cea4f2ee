"""What a user typed or an agent reported reaches Slack as text, never as markup: a model
path, a label, a phase or a timing name holding `<!channel>` must not ping the channel
(red team: `<!channel>` was posted from a model path and from an agent's phase).

Jobs go through the real store, reporter and dispatcher into the fake Slack; the agent's
side is played through the store, as the coordinator would record it.
"""

# The bot tests' fixtures are imported below, and pytest passes them by name.
# ruff: noqa: F401, F811

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from slack_bolt import App
from sqlalchemy import update

from bot.core.oncall import Oncall
from bot.slack.app import build_app, connect_deliveries
from bot.slack.reporter import Reporter
from bot.slack.runs import Dispatcher
from bot.slack.threads import origin
from runners import FirstError, JobSpec, NextStep, RunResult
from runners.run.result import Event
from runners.store.jobstore import JobStore, open_jobs
from runners.store.tables import AgentRow
from tests.bot.conftest import (
    FORM,
    database_url,
    dispatch,
    fake_slack,
    oncall,
    slack_settings,
)
from tests.fakes import slack_payloads as p
from tests.fakes.slack import Call, FakeSlack

EVIL = "<!channel> <@U123> <https://evil|x> & co"
RAW = ("<!channel>", "<@U123>", "<https://evil|x>")
ESCAPED = "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|x&gt; &amp; co"
BARE_AMP = re.compile(r"&(?!amp;|lt;|gt;)")


class Rig:
    def __init__(self, app: App, store: JobStore, reporter: Reporter) -> None:
        self.app, self.store, self.reporter = app, store, reporter


@pytest.fixture
def rig(fake_slack: FakeSlack, oncall: Oncall, database_url: str) -> Iterator[Rig]:
    settings = slack_settings(fake_slack, database_url, dispatch_users=[p.USER], lease_s=5)
    store = open_jobs(database_url, settings.lease_s)
    deliveries = connect_deliveries(settings, oncall)
    dispatcher = Dispatcher(settings, store, deliveries)
    reporter = Reporter(dispatcher)
    reporter.post_after_s = 0.0
    reporter.min_update_s = 0.0
    try:
        yield Rig(
            build_app(settings, oncall, deliveries=deliveries, dispatcher=dispatcher),
            store,
            reporter,
        )
    finally:
        deliveries.close()
        store.engine.dispose()


def _mrkdwn(value: Any) -> list[str]:
    """Every string Slack parses for markup: `text` fields and mrkdwn text objects (a
    plain_text object is shown as written, and a button's value is not shown)."""
    if isinstance(value, list):
        return [s for item in value for s in _mrkdwn(item)]
    if not isinstance(value, dict):
        return []
    text = value.get("text")
    out = [text] if isinstance(text, str) and value.get("type") != "plain_text" else []
    return out + [
        s for item in value.values() if isinstance(item, dict | list) for s in _mrkdwn(item)
    ]


def _sent(call: Call) -> list[str]:
    blocks = call.args.get("blocks") or []
    return _mrkdwn(
        {
            "text": call.args.get("text"),
            "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
        }
    )


def _assert_escaped(texts: list[str]) -> None:
    assert texts
    for text in texts:
        for raw in RAW:
            assert raw not in text, text
        assert not BARE_AMP.search(text), text


def test_a_jobs_model_phase_and_agent_report_reach_slack_escaped(
    rig: Rig, fake_slack: FakeSlack
) -> None:
    store = rig.store
    job = store.submit(
        JobSpec(playbook="smoke", model=f"/models/{EVIL}"),
        requested_by=p.USER,
        origin=origin("C0TEAM", None, None),
    )
    rig.reporter.once()  # the status message, queued
    agent = store.register(store.agent_for(store.add_agent("npu")), (), EVIL, "1", 1)
    store.lease(agent)
    with pytest.raises(ValidationError):  # a phase is one of the playbooks', never markup
        Event(kind="phase", phase=EVIL)
    store.add_events(agent, job.id, [Event(kind="stage", phase="starting", stage=EVIL)])
    store.heartbeat(agent, job.id, [EVIL])
    rig.reporter.once()  # running, in the agent's phase
    store.finish(
        agent,
        job.id,
        RunResult(
            playbook="smoke",
            status="failed",
            phase="starting",
            stage=EVIL,
            verdict=EVIL,
            timings={EVIL: 2.0},
            evidence={EVIL: EVIL},
            first_error=FirstError(signature=EVIL, lines=[EVIL]),
            triage={
                "verdict": "match",
                "matches": [
                    {"title": EVIL, "confidence": EVIL, "entry_id": EVIL, "actions": [EVIL]}
                ],
            },
            next=NextStep(playbook="eager", reason=EVIL),
            log_tail=[EVIL],
            environment={"packages": {EVIL: {"version": EVIL, "path": EVIL}}, "host": EVIL},
            cleanup=EVIL,
            notes=[EVIL],
        ),
    )
    rig.reporter.once()  # the verdict
    calls = fake_slack.of("chat.postMessage") + fake_slack.of("chat.update")
    assert len(calls) >= 3
    texts = [s for c in calls for s in _sent(c)]
    _assert_escaped(texts)
    assert any(ESCAPED in t for t in texts), "the model is shown, escaped"
    phases = {c.args["text"].rsplit("(", 1)[1] for c in calls}
    # Only the enum's phases are shown: a made-up phase is refused where it is read (the
    # Event's and the result's type), so the job shows where it was and its result's.
    assert phases == {"queued)", "preflight)", "starting)"}, phases


def test_refusals_quoting_what_was_typed_are_escaped(rig: Rig, fake_slack: FakeSlack) -> None:
    rig.store.add_agent("npu")
    texts = []
    for typed in (f"org/model on {EVIL}", EVIL, f"org/model --env {EVIL}"):
        body = p.slash("/smoke", typed, f"{fake_slack.url}/respond/1")
        response = dispatch(rig.app, body, FORM)
        texts.append(json.loads(response.body)["text"])
    _assert_escaped(texts)
    assert rig.store.job(1) is None


def test_runners_listing_escapes_an_agents_labels_and_host(rig: Rig) -> None:
    rig.store.add_agent("npu")
    # A row from before labels were checked at registration.
    with rig.store.engine.begin() as db:
        db.execute(update(AgentRow).values(labels=json.dumps([EVIL]), hostname=EVIL))
    response = dispatch(rig.app, p.slash("/runners", "", "https://127.0.0.1/respond"), FORM)
    _assert_escaped(_mrkdwn(json.loads(response.body)))
