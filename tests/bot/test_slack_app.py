"""The Slack app, driven by correctly signed requests, answering into a fake Slack."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from slack_bolt import App, BoltRequest
from sqlalchemy import select, update

from bot.core.oncall import Oncall
from bot.core.store import DeliveryRow
from bot.service import housekeeping
from bot.settings import Settings
from bot.slack.app import build_app, connect_deliveries
from tests.bot.conftest import FORM, JSON, dispatch, slack_settings
from tests.fakes import slack_payloads as p
from tests.fakes.slack import BOT_TOKEN, BOT_USER, FakeSlack, sign

ROOT = Path(__file__).parents[2]
CRASH_LOG = (ROOT / "examples" / "first-request-crash.log").read_text()
MLA = "mla-attention-runtime-failures-after-ready"
MLA_TITLE = "MLA attention runtime failures after ready"
FIA_LINE = "RuntimeError: call aclnnFusedInferAttentionScore failed"


def _texts(blocks: list[dict[str, Any]]) -> str:
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        for e in b.get("elements", []):
            out.append(e["text"]["text"] if isinstance(e.get("text"), dict) else e.get("text", ""))
    return "\n".join(out)


def _wait_done(oncall: Oncall, key: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while oncall.store.delivery_status(key) == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert oncall.store.delivery_status(key) == "done"


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    actions = next(b for b in blocks if b["type"] == "actions")
    return {e["action_id"]: e["value"] for e in actions["elements"]}


def test_triage_command_posts_the_answer_in_the_channel(app: App, fake_slack: FakeSlack) -> None:
    started = time.monotonic()
    response = dispatch(app, p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1"), FORM)
    ack_s = time.monotonic() - started
    assert response.status == 200 and response.body == ""
    assert ack_s < 3.0
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert post["channel"] == p.CHANNEL and post.get("thread_ts") is None
    text = _texts(post["blocks"])
    assert f"Runbook match: {MLA_TITLE}" in text
    assert FIA_LINE in text  # the root cause, quoted
    assert "1. Reproduce with one minimal text request" in text
    assert "`--enforce-eager`" in text  # inline code kept
    assert f"<@{p.USER}>" in text
    assert set(_buttons(post["blocks"])) == {"feedback_helpful", "feedback_not_this"}


def test_empty_triage_command_gets_usage_and_posts_nothing(app: App, fake_slack: FakeSlack) -> None:
    response = dispatch(app, p.slash("/triage", "  ", f"{fake_slack.url}/respond/1"), FORM)
    assert "Usage: `/triage" in json.loads(response.body)["text"]
    fake_slack.quiet_for(0.5)
    assert fake_slack.of("chat.postMessage") == []


def test_no_match_is_said_honestly_with_at_most_three_maybes(
    app: App, fake_slack: FakeSlack
) -> None:
    line = "[E compiler] ld.lld: error: undefined symbol: pthread_atfork_v2"
    dispatch(app, p.slash("/triage", line, f"{fake_slack.url}/respond/1"), FORM)
    post = fake_slack.wait_for("chat.postMessage")[0].args
    text = _texts(post["blocks"])
    assert "No runbook entry matches this" in text
    assert "Runbook match" not in text
    assert text.count("• ") <= 3
    assert set(_buttons(post["blocks"])) == {"feedback_not_this"}


def test_bot_not_in_channel_answers_only_the_asker(app: App, fake_slack: FakeSlack) -> None:
    fake_slack.not_in.add("C0PRIVATE")
    body = p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/7", channel="C0PRIVATE")
    dispatch(app, body, FORM)
    reply = fake_slack.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral"
    text = _texts(reply["blocks"])
    assert MLA_TITLE in text and "/invite @ascend-oncall" in text


def test_runbook_lookup_and_listing(app: App, fake_slack: FakeSlack) -> None:
    dispatch(app, p.slash("/runbook", "hccl bind port", f"{fake_slack.url}/respond/1"), FORM)
    found = fake_slack.wait_for("response_url")[0].args
    assert found["response_type"] == "ephemeral"
    assert "Server fails to bind on `:8000`" in _texts(found["blocks"])
    assert "1. Kill stale `vllm serve` processes." in _texts(found["blocks"])
    dispatch(app, p.slash("/runbook", "", f"{fake_slack.url}/respond/2"), FORM)
    listing = _texts(fake_slack.wait_for("response_url", 2)[1].args["blocks"])
    assert "The runbook has 17 entries" in listing
    assert listing.count("• ") == 17


def test_bad_signature_and_stale_timestamp_are_rejected(app: App, fake_slack: FakeSlack) -> None:
    body = p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1")
    forged = dispatch(app, body, FORM, **{"X-Slack-Signature": "v0=" + "0" * 64})
    old = sign(body, timestamp=int(time.time()) - 600)
    stale = app.dispatch(BoltRequest(body=body, headers={"Content-Type": FORM, **old}))
    assert forged.status == 401 and stale.status == 401
    fake_slack.quiet_for(0.5)
    assert fake_slack.of("chat.postMessage") == []


def test_retried_event_is_answered_once(app: App, fake_slack: FakeSlack) -> None:
    body = p.event(p.mention(FIA_LINE, "1700000100.000100"), "Ev001")
    assert dispatch(app, body, JSON).status == 200
    assert (
        dispatch(
            app, body, JSON, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        ).status
        == 200
    )
    fake_slack.wait_for("chat.postMessage")
    fake_slack.quiet_for(1.0)
    assert len(fake_slack.of("chat.postMessage")) == 1


def test_watched_channel_message_and_its_mention_give_one_answer(
    app: App, fake_slack: FakeSlack
) -> None:
    ts = "1700000200.000100"
    text = f"<@{BOT_USER}> help\n```{CRASH_LOG}```"
    dispatch(app, p.event(p.message(text, ts, channel="C0WATCH"), "Ev010"), JSON)
    dispatch(
        app,
        p.event(p.mention("help\n```" + CRASH_LOG + "```", ts, channel="C0WATCH"), "Ev011"),
        JSON,
    )
    post = fake_slack.wait_for("chat.postMessage")[0].args
    fake_slack.quiet_for(1.0)
    assert len(fake_slack.of("chat.postMessage")) == 1
    assert post["thread_ts"] == ts
    assert MLA_TITLE in _texts(post["blocks"])


def test_watched_channel_triages_pasted_logs_but_not_chat(app: App, fake_slack: FakeSlack) -> None:
    dispatch(
        app,
        p.event(
            p.message("good morning, anyone up for lunch?", "1700000300.1", channel="C0WATCH"),
            "Ev020",
        ),
        JSON,
    )
    dispatch(app, p.event(p.message(CRASH_LOG, "1700000300.2", channel="C0OTHER"), "Ev021"), JSON)
    dispatch(app, p.event(p.message(CRASH_LOG, "1700000300.3", channel="C0WATCH"), "Ev022"), JSON)
    post = fake_slack.wait_for("chat.postMessage")[0].args
    fake_slack.quiet_for(1.0)
    assert len(fake_slack.of("chat.postMessage")) == 1
    assert post["channel"] == "C0WATCH" and post["thread_ts"] == "1700000300.3"


def test_bots_are_never_answered(app: App, fake_slack: FakeSlack) -> None:
    dispatch(
        app, p.event(p.bot_message(CRASH_LOG, "1700000400.1", channel="C0WATCH"), "Ev030"), JSON
    )
    from_bot = {**p.mention(FIA_LINE, "1700000400.2"), "bot_id": "BOTHER"}
    dispatch(app, p.event(from_bot, "Ev031"), JSON)
    ourselves = p.message(
        CRASH_LOG, "1700000400.3", channel="C0WATCH", user=BOT_USER, bot_id="BBOT"
    )
    dispatch(app, p.event(ourselves, "Ev032"), JSON)
    fake_slack.quiet_for(1.0)
    assert fake_slack.of("chat.postMessage") == []


def test_mention_in_thread_triages_the_parent_and_replies(app: App, fake_slack: FakeSlack) -> None:
    parent_ts, mention_ts = "1700000500.000100", "1700000500.000300"
    fake_slack.threads[(p.CHANNEL, parent_ts)] = [
        p.message("server died on first request:\n```" + CRASH_LOG + "```", parent_ts),
        p.message("same here on the A3 box", "1700000500.000200", thread_ts=parent_ts),
        p.mention("what is this?", mention_ts, thread_ts=parent_ts),
        p.message("(posted after the mention)", "1700000500.000400", thread_ts=parent_ts),
    ]
    dispatch(
        app, p.event(p.mention("what is this?", mention_ts, thread_ts=parent_ts), "Ev040"), JSON
    )
    post = fake_slack.wait_for("chat.postMessage")[0].args
    replies = fake_slack.of("conversations.replies")[0].args
    assert replies["ts"] == parent_ts and replies["latest"] == mention_ts
    assert post["thread_ts"] == parent_ts
    assert MLA_TITLE in _texts(post["blocks"])


def test_log_file_is_downloaded_with_the_bot_token_and_capped(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str
) -> None:
    settings = slack_settings(
        fake_slack, database_url, watched_channels=["C0WATCH"], max_file_bytes=64_000
    )
    app = build_app(settings, oncall)
    noise = "".join(
        f"INFO 01-01 00:00:{i % 60:02d} [core.py:1] step {i} ok\n" for i in range(20_000)
    )
    file = fake_slack.add_file("F0LOG", "vllm-serve.log", (noise + CRASH_LOG).encode())
    event = p.message("", "1700000600.1", channel="C0WATCH", subtype="file_share", files=[file])
    dispatch(app, p.event(event, "Ev050"), JSON)
    post = fake_slack.wait_for("chat.postMessage")[0].args
    download = fake_slack.of("download")[0]
    assert download.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert download.headers["Range"] == "bytes=-64000"
    text = _texts(post["blocks"])
    assert MLA_TITLE in text
    assert "I read its last 64,000" in text


def test_file_stored_outside_slack_never_gets_the_token(app: App, fake_slack: FakeSlack) -> None:
    file = fake_slack.add_file(
        "F0EVIL", "x.log", CRASH_LOG.encode(), url_private_download="http://127.0.0.2:9/steal"
    )
    dispatch(
        app,
        p.event(
            p.mention("what is this?", "1700000700.1", files=[file]),
            "Ev060",
        ),
        JSON,
    )
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert "not stored on Slack" in _texts(post["blocks"])
    assert fake_slack.of("download") == []


def test_message_shortcut_answers_in_the_message_thread(app: App, fake_slack: FakeSlack) -> None:
    message = p.message(CRASH_LOG, "1700000800.1")
    response = dispatch(app, p.shortcut(message, f"{fake_slack.url}/respond/9"), FORM)
    assert response.status == 200
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert post["thread_ts"] == "1700000800.1"
    assert MLA_TITLE in _texts(post["blocks"])


def test_helpful_marks_the_answer(app: App, fake_slack: FakeSlack, oncall: Oncall) -> None:
    dispatch(app, p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1"), FORM)
    post = fake_slack.wait_for("chat.postMessage")[0]
    message = {"ts": "1700000000.000001", "text": post.args["text"], "blocks": post.args["blocks"]}
    answer_id = _buttons(post.args["blocks"])["feedback_helpful"]
    dispatch(
        app, p.button("feedback_helpful", answer_id, message, f"{fake_slack.url}/respond/2"), FORM
    )
    update = fake_slack.wait_for("chat.update")[0].args
    assert update["ts"] == message["ts"]
    assert f"<@{p.USER}> found this helpful" in _texts(update["blocks"])
    assert oncall.store.feedback_counts() == {"helpful": 1}


def test_not_this_teaches_the_bot(app: App, fake_slack: FakeSlack, oncall: Oncall) -> None:
    paste = (ROOT / "examples" / "hccl-timeout.log").read_text()  # the runbook has no entry
    dispatch(app, p.slash("/triage", paste, f"{fake_slack.url}/respond/1"), FORM)
    first = fake_slack.wait_for("chat.postMessage")[0]
    assert "No runbook entry matches this" in _texts(first.args["blocks"])
    message = {
        "ts": "1700000000.000001",
        "text": first.args["text"],
        "blocks": first.args["blocks"],
    }
    answer_id = _buttons(first.args["blocks"])["feedback_not_this"]
    dispatch(
        app, p.button("feedback_not_this", answer_id, message, f"{fake_slack.url}/respond/2"), FORM
    )
    view = fake_slack.wait_for("views.open")[0].args["view"]
    options = view["blocks"][0]["element"]["options"]
    assert len(options) == 18  # 17 entries and "None of these"
    chosen = "startup-appears-stuck-in-graph-mode"
    assert dispatch(app, p.picked(view, chosen), FORM).status == 200
    thanks = fake_slack.wait_for("chat.postEphemeral")[0].args
    assert "Startup appears" in thanks["text"]
    said = fake_slack.wait_for("chat.postMessage", 2)[1].args
    assert said["thread_ts"] == "1700000000.000001" and "says it is" in said["text"]
    # The same failure on another rank and process, later, now gets the entry the user chose.
    later = paste.replace("rank3", "rank6").replace("4410", "9127").replace("10:12", "23:40")
    dispatch(app, p.slash("/triage", later, f"{fake_slack.url}/respond/3"), FORM)
    again = fake_slack.wait_for("chat.postMessage", 3)[2].args
    assert "Startup appears" in _texts(again["blocks"]).split("\n")[0]


def test_rate_limited_post_waits_for_retry_after(app: App, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limited["chat.postMessage"] = 1
    dispatch(app, p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1"), FORM)
    post = fake_slack.wait_for("chat.postMessage")[0]
    limited = fake_slack.of("chat.postMessage:429")[0]
    assert post.at - limited.at >= 0.9
    fake_slack.quiet_for(0.5)
    assert len(fake_slack.of("chat.postMessage")) == 1


def test_channels_outside_the_allow_list_are_refused(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str
) -> None:
    settings = slack_settings(fake_slack, database_url, channels=["C0ONLY"])
    app = build_app(settings, oncall)
    response = dispatch(app, p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1"), FORM)
    assert "not enabled in this channel" in json.loads(response.body)["text"]
    other_team = slack_settings(fake_slack, database_url, teams=["T0OTHER"])
    response = dispatch(
        build_app(other_team, oncall),
        p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1", channel="C0ONLY"),
        FORM,
    )
    assert "not enabled in this workspace" in json.loads(response.body)["text"]
    fake_slack.quiet_for(0.5)
    assert fake_slack.of("chat.postMessage") == []


def test_huge_and_binary_pastes_get_a_clear_answer(
    app: App, fake_slack: FakeSlack, settings: Settings
) -> None:
    binary = (ROOT / "tests" / "fakes" / "__init__.py").read_bytes() + bytes(range(256)) * 64
    file = fake_slack.add_file("F0BIN", "core.log", binary)
    dispatch(
        app,
        p.event(
            p.mention("why?", "1700000900.1", files=[file]),
            "Ev070",
        ),
        JSON,
    )
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert "looks binary" in _texts(post["blocks"])


def test_acks_stay_quick_while_every_worker_is_busy(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = slack_settings(fake_slack, database_url, workers=2)
    app = build_app(settings, oncall)
    slow_triage = oncall.triage

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(2)
        return slow_triage(*args, **kwargs)

    monkeypatch.setattr(oncall, "triage", slow)
    for n in range(8):
        dispatch(app, p.event(p.mention(FIA_LINE, f"1700002000.{n}"), f"EvBusy{n}"), JSON)
    started = time.monotonic()
    response = dispatch(app, p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1"), FORM)
    assert response.status == 200
    assert time.monotonic() - started < 1.0
    fake_slack.wait_for("chat.postMessage", 9, timeout=60)
    fake_slack.quiet_for(1.0)
    assert len(fake_slack.of("chat.postMessage")) == 9


def test_work_cut_short_by_a_restart_is_done_again(
    fake_slack: FakeSlack, oncall: Oncall, settings: Settings
) -> None:
    body = dict(parse_qsl(p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1")))
    # What a bot killed between its ack and its answer leaves behind: a pending delivery.
    key = f"command:{body['trigger_id']}"
    assert oncall.store.claim_delivery(key, "triage", body)
    deliveries = connect_deliveries(settings, oncall)
    assert deliveries.resume_stalled() == 0  # not idle long enough: its worker may be alive
    with oncall.store.engine.begin() as c:
        c.execute(update(DeliveryRow).values(updated_at=datetime.now(UTC) - timedelta(minutes=2)))
    assert deliveries.resume_stalled() == 1
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert MLA_TITLE in _texts(post["blocks"])
    fake_slack.quiet_for(0.5)
    assert oncall.store.delivery_status(key) == "done"
    assert deliveries.resume_stalled() == 0


def test_a_failed_delivery_tells_the_asker(
    app: App, fake_slack: FakeSlack, oncall: Oncall, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(oncall, "triage", broken)
    dispatch(app, p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/5"), FORM)
    reply = fake_slack.wait_for("response_url")[0].args
    assert "could not finish answering" in reply["text"]
    assert "disk on fire" not in reply["text"]


def test_chat_text_cannot_inject_mentions_or_links(app: App, fake_slack: FakeSlack) -> None:
    file = {
        "id": "F0PNG",
        "name": "<!channel> <https://evil.example|click>.png",
        "filetype": "png",
        "mimetype": "image/png",
    }
    dispatch(app, p.event(p.mention("look", "1700003000.1", files=[file]), "EvInj"), JSON)
    post = fake_slack.wait_for("chat.postMessage")[0].args
    sent = json.dumps(post)
    assert "<!channel>" not in sent and "<https://evil.example" not in sent
    assert "&lt;!channel&gt;" in sent


def test_unasked_text_files_without_errors_are_left_alone(
    app: App, fake_slack: FakeSlack, oncall: Oncall
) -> None:
    file = fake_slack.add_file(
        "F0NOTES", "notes.txt", b"meeting notes\n- ship the A3 image\n- lunch at noon\n"
    )
    dispatch(
        app,
        p.event(
            p.message("", "1700003100.1", channel="C0WATCH", subtype="file_share", files=[file]),
            "EvNotes",
        ),
        JSON,
    )
    fake_slack.wait_for("download")
    _wait_done(oncall, "triage:C0WATCH:1700003100.1")
    assert fake_slack.of("chat.postMessage") == []


def test_a_log_sent_to_the_bot_in_a_dm_is_triaged(app: App, fake_slack: FakeSlack) -> None:
    dm = p.message(CRASH_LOG, "1700003200.1", channel="D0ALICE", channel_type="im")
    dispatch(app, p.event(dm, "EvDm"), JSON)
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert post["channel"] == "D0ALICE" and MLA_TITLE in _texts(post["blocks"])


def test_shortcut_outside_the_allowed_channels_says_so(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str
) -> None:
    app = build_app(slack_settings(fake_slack, database_url, channels=["C0ONLY"]), oncall)
    dispatch(
        app, p.shortcut(p.message(CRASH_LOG, "1700003300.1"), f"{fake_slack.url}/respond/4"), FORM
    )
    reply = fake_slack.wait_for("response_url")[0].args
    assert "not enabled in this channel" in reply["text"]
    fake_slack.quiet_for(0.5)
    assert fake_slack.of("chat.postMessage") == []


def test_stored_deliveries_keep_no_slack_verification_token(
    app: App, fake_slack: FakeSlack, oncall: Oncall
) -> None:
    dispatch(app, p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1"), FORM)
    fake_slack.wait_for("chat.postMessage")
    with oncall.store.engine.connect() as c:
        payloads = [row[0] for row in c.execute(select(DeliveryRow.payload))]
    assert payloads and all('"token"' not in payload for payload in payloads)


def test_a_slow_delivery_still_running_is_never_resumed(
    fake_slack: FakeSlack, oncall: Oncall, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliveries = connect_deliveries(settings, oncall)
    release = threading.Event()
    real_triage = oncall.triage

    def stuck(*args: Any, **kwargs: Any) -> Any:
        release.wait(30)
        return real_triage(*args, **kwargs)

    monkeypatch.setattr(oncall, "triage", stuck)
    body = dict(parse_qsl(p.slash("/triage", FIA_LINE, f"{fake_slack.url}/respond/1")))
    key = f"command:{body['trigger_id']}"
    assert deliveries.start(key, "triage", body)
    with oncall.store.engine.begin() as c:  # it has been running for two minutes
        c.execute(update(DeliveryRow).values(updated_at=datetime.now(UTC) - timedelta(minutes=2)))
    assert deliveries.resume_stalled() == 0  # this process is still on it
    stop = threading.Event()
    keeper = threading.Thread(target=housekeeping, args=(deliveries, stop, 0.05))
    keeper.start()  # what `serve` runs: it tells the database the delivery is alive
    time.sleep(0.3)
    stop.set()
    keeper.join(5)
    other_replica = connect_deliveries(settings, oncall)
    assert other_replica.resume_stalled() == 0  # and says so to the others
    release.set()
    fake_slack.wait_for("chat.postMessage")
    fake_slack.quiet_for(1.0)
    assert len(fake_slack.of("chat.postMessage")) == 1
    assert oncall.store.delivery_status(key) == "done"


def test_a_dm_that_mentions_the_bot_is_answered(app: App, fake_slack: FakeSlack) -> None:
    dm = p.message(
        f"<@{BOT_USER}> {FIA_LINE}", "1700003400.1", channel="D0ALICE", channel_type="im"
    )
    dispatch(app, p.event(dm, "EvDm2"), JSON)
    post = fake_slack.wait_for("chat.postMessage")[0].args
    assert post["channel"] == "D0ALICE" and MLA_TITLE in _texts(post["blocks"])


def test_a_mention_outside_the_allowed_channels_is_told_so(
    fake_slack: FakeSlack, oncall: Oncall, database_url: str
) -> None:
    app = build_app(slack_settings(fake_slack, database_url, channels=["C0ONLY"]), oncall)
    dispatch(app, p.event(p.mention(FIA_LINE, "1700003500.1"), "EvNotHere"), JSON)
    told = fake_slack.wait_for("chat.postEphemeral")[0].args
    assert told["user"] == p.USER and "not enabled in this channel" in told["text"]
    fake_slack.quiet_for(0.5)
    assert fake_slack.of("chat.postMessage") == []


def test_a_failed_dm_delivery_tells_the_asker(
    app: App, fake_slack: FakeSlack, oncall: Oncall, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(oncall, "triage", broken)
    dm = p.message(FIA_LINE, "1700003600.1", channel="D0ALICE", channel_type="im")
    dispatch(app, p.event(dm, "EvDmFail"), JSON)
    told = fake_slack.wait_for("chat.postMessage")[0].args
    assert told["channel"] == "D0ALICE" and "could not finish answering" in told["text"]
