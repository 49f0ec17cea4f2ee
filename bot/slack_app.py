"""The Slack app: one function builds the bolt `App` and registers its listeners.

It starts nothing; `bot.slack_http` and `bot.slack_socket` are the transports. Listeners
check, ack (bolt acks events by itself) and hand the work to `SlackJobs`, whose own threads
triage, so Slack has its ack within 3 s however busy triage is.
"""

from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_bolt.error import BoltError as SlackBoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot import blocks, wording
from bot.core import Oncall
from bot.errors import SlackSetupError
from bot.metrics import REQUESTS
from bot.settings import Settings
from bot.slack_jobs import SlackJobs

log = logging.getLogger("ascend_oncall.slack")

SHORTCUT = "triage_message"
_ACK_THREADS = 16


def web_client(settings: Settings) -> WebClient:
    if settings.slack_bot_token is None:
        raise SlackSetupError("SLACK_BOT_TOKEN is not set: the bot cannot talk to Slack")
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=30,
    )
    # Honour 429 Retry-After; connection errors are already retried by default.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def _trigger(body: dict[str, Any]) -> str:
    return str(body.get("trigger_id") or uuid.uuid4())


class _Listeners:
    def __init__(self, settings: Settings, jobs: SlackJobs) -> None:
        self.settings = settings
        self.jobs = jobs
        self.oncall = jobs.oncall

    def only_allowed(
        self, body: dict[str, Any], context: BoltContext, next: Any
    ) -> BoltResponse | None:
        teams, channels = self.settings.teams, self.settings.channels
        place = None
        if teams and context.team_id not in teams:
            place = "workspace"
        elif channels and context.channel_id and context.channel_id not in channels:
            place = "channel"
        if place is None:
            next()
            return None
        text = wording.NOT_HERE.format(place=place)
        if "command" in body:
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
        if body.get("response_url"):  # a shortcut: tell the one who used it
            Respond(response_url=body["response_url"])(text=text, response_type="ephemeral")
        return BoltResponse(status=200, body="")

    def triage_command(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="triage").inc()
        if not body.get("text", "").strip():
            ack(text=wording.USAGE_TRIAGE, response_type="ephemeral")
            return
        ack()
        self.jobs.start(f"command:{_trigger(body)}", "triage", body)

    def runbook_command(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="runbook").inc()
        ack()
        self.jobs.start(f"command:{_trigger(body)}", "runbook", body)

    def mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="mention").inc()
        if not event.get("bot_id"):
            key = f"triage:{event.get('channel')}:{event.get('ts')}"
            self.jobs.start(key, "mention", {"event": event, "team_id": body.get("team_id")})

    def message(self, event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        """New messages in watched channels (and DMs to the bot) that may hold a log."""
        watched = event.get("channel") in self.settings.watched_channels
        if not (watched or event.get("channel_type") == "im"):
            return
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return
        if event.get("thread_ts") not in (None, event.get("ts")):
            return  # replies in threads: mention the bot there
        if context.bot_user_id and f"<@{context.bot_user_id}>" in event.get("text", ""):
            return  # the app_mention event answers this one
        REQUESTS.labels(kind="watched").inc()
        key = f"triage:{event.get('channel')}:{event.get('ts')}"
        self.jobs.start(key, "watched", {"event": event, "team_id": body.get("team_id")})

    def shortcut(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="shortcut").inc()
        ack()
        self.jobs.start(f"shortcut:{_trigger(body)}", "shortcut", body)

    def helpful(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        REQUESTS.labels(kind="feedback").inc()
        user = body["user"]["id"]
        notice = self.oncall.feedback(int(body["actions"][0]["value"]), user, "helpful")
        message = body.get("message")
        if notice.problem or message is None or body.get("container", {}).get("is_ephemeral"):
            respond(
                text=blocks.escape(notice.text), response_type="ephemeral", replace_original=False
            )
            return
        marked = blocks.with_mark(
            message["blocks"], wording.MARKED_HELPFUL.format(who=f"<@{user}>")
        )
        self.jobs.call(
            "chat_update",
            channel=body["channel"]["id"],
            ts=message["ts"],
            blocks=marked,
            text=message.get("text", ""),
        )

    def not_this(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        REQUESTS.labels(kind="feedback").inc()
        message = body.get("message") or {}
        metadata = {
            "answer": int(body["actions"][0]["value"]),
            "channel": (body.get("channel") or {}).get("id"),
            "thread": message.get("thread_ts") or message.get("ts"),
            "ephemeral": bool(body.get("container", {}).get("is_ephemeral")),
            "response_url": body.get("response_url"),
        }
        view = blocks.picker(self.oncall.entries(), json.dumps(metadata))
        self.jobs.call("views_open", trigger_id=body["trigger_id"], view=view)

    def pick(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        self.jobs.start(f"pick:{body['view'].get('id')}:{body['user']['id']}", "pick", body)


def connect_jobs(settings: Settings, oncall: Oncall, client: WebClient | None = None) -> SlackJobs:
    """The job runner, with a client whose token Slack has accepted (auth.test)."""
    client = client or web_client(settings)
    try:
        bot_user_id = client.auth_test().get("user_id")
    except SlackApiError as exc:
        error = exc.response.get("error")
        raise SlackSetupError(f"Slack refused the bot token (SLACK_BOT_TOKEN): {error}") from exc
    return SlackJobs(settings, oncall, client, bot_user_id)


def build_app(
    settings: Settings,
    oncall: Oncall,
    client: WebClient | None = None,
    jobs: SlackJobs | None = None,
) -> App:
    """The bolt App with every listener; it starts nothing (see slack_http, slack_socket)."""
    jobs = jobs or connect_jobs(settings, oncall, client)
    secret = settings.slack_signing_secret
    try:
        app = App(
            client=jobs.client,
            signing_secret=secret.get_secret_value() if secret else "",
            ignoring_self_events_enabled=True,
            raise_error_for_unhandled_request=False,
            listener_executor=ThreadPoolExecutor(_ACK_THREADS, thread_name_prefix="oncall-ack"),
        )
    except SlackBoltError as exc:
        raise SlackSetupError(f"Slack refused the bot token (SLACK_BOT_TOKEN): {exc}") from exc
    on = _Listeners(settings, jobs)
    app.use(on.only_allowed)
    app.command("/triage")(on.triage_command)
    app.command("/runbook")(on.runbook_command)
    app.event("app_mention")(on.mention)
    app.event("message")(on.message)
    app.shortcut(SHORTCUT)(on.shortcut)
    app.action(blocks.HELPFUL_ACTION)(on.helpful)
    app.action(blocks.NOT_THIS_ACTION)(on.not_this)
    app.view(blocks.PICKER_CALLBACK)(on.pick)
    return app
