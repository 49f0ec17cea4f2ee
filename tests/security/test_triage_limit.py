"""A paste that takes too long to read is answered with what to paste instead; the job that
waited on it is finished, not left hanging, and the bot goes on answering.

The real core and model run here; only the time limit is made smaller than any triage takes.
"""

# The bot tests' fixtures are imported below, and pytest passes them by name.
# ruff: noqa: F401, F811

from __future__ import annotations

import time

from bot.core.oncall import Oncall
from bot.settings import Settings
from bot.slack.app import build_app, web_client
from bot.slack.deliveries import Deliveries
from tests.bot.conftest import (
    FORM,
    database_url,
    dispatch,
    fake_slack,
    oncall,
    settings,
)
from tests.fakes import slack_payloads as p
from tests.fakes.slack import BOT_USER, FakeSlack

PASTE = "RuntimeError: call aclnnFusedInferAttentionScore failed"


def test_a_paste_over_the_time_limit_is_answered_with_what_to_paste_instead(
    settings: Settings,
    oncall: Oncall,
    fake_slack: FakeSlack,
) -> None:
    client = web_client(settings)
    deliveries = Deliveries(settings, oncall, client, BOT_USER, triage_s=1e-4)
    app = build_app(settings, oncall, client=client, deliveries=deliveries)
    try:
        started = time.monotonic()
        response = dispatch(app, p.slash("/triage", PASTE, f"{fake_slack.url}/respond/1"), FORM)
        assert response.status == 200 and time.monotonic() - started < 3.0
        post = fake_slack.wait_for("chat.postMessage")[0].args
        assert "took too long to read" in post["text"]
        assert "paste the part around the first error" in post["text"]
        assert "Runbook match" not in post["text"]
        # The next paste, with time enough to be read, is answered as usual.
        deliveries.triage_s = 60.0
        dispatch(app, p.slash("/triage", PASTE, f"{fake_slack.url}/respond/2"), FORM)
        answer = fake_slack.wait_for("chat.postMessage", count=2)[1].args
        assert "Runbook match" in answer["text"] or "Likely" in answer["text"]
    finally:
        deliveries.close()
