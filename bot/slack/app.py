"""The Slack app: one function builds the bolt `App` and registers its listeners.

It starts nothing; `bot.slack.http` and `bot.slack.socket` are the transports. Listeners
check, record the work as a job and ack; `Deliveries`' own threads do the work, so Slack has
its ack within 3 s however busy triage is, and a crash after the ack loses nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_bolt.error import BoltError as SlackBoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.core import wording
from bot.core.oncall import Oncall
from bot.errors import SlackSetupError, StoreError
from bot.metrics import REQUESTS
from bot.render import blocks
from bot.settings import Settings
from bot.slack.deliveries import Deliveries
from bot.slack.runs import Dispatcher, add_run_listeners

log = logging.getLogger("ascend_oncall.slack")

SHORTCUT = "triage_message"


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
    """Each listener checks the request, claims its delivery, then acks: a request Slack has
    been told we got is always in the database first. The App runs them before it answers
    (process_before_response), so they stay this small; the work is Deliveries'."""

    def __init__(self, settings: Settings, deliveries: Deliveries) -> None:
        self.settings = settings
        self.deliveries = deliveries
        self.oncall = deliveries.oncall

    def only_allowed(
        self, body: dict[str, Any], context: BoltContext, next: Any
    ) -> BoltResponse | None:
        teams, channels = self.settings.teams, self.settings.channels
        channel = context.channel_id or ""
        place = None
        if teams and context.team_id not in teams:
            place = "workspace"
        elif channels and channel and not channel.startswith("D") and channel not in channels:
            place = "channel"  # direct messages with the bot are not channels
        if place is None:
            next()
            return None
        text = wording.NOT_HERE.format(place=place)
        if "command" in body:
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
        if body.get("response_url"):  # a shortcut: tell the one who used it
            respond = Respond(response_url=body["response_url"])
            self.deliveries.soon(lambda: respond(text=text, response_type="ephemeral"))
        event = body.get("event") or {}
        if event.get("type") == "app_mention" and place == "channel" and event.get("user"):
            where = {"channel": channel, "user": event["user"], "text": text}
            self.deliveries.soon(lambda: self.deliveries.call("chat_postEphemeral", **where))
        return BoltResponse(status=200, body="")

    def _start(self, ack: Ack, key: str, kind: str, body: dict[str, Any]) -> None:
        try:
            self.deliveries.start(key, kind, body)
        except StoreError:
            log.exception("could not record a %s request", kind)
            ack(text=wording.FAILED, response_type="ephemeral")
            return
        ack()

    def triage_command(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="triage").inc()
        if not body.get("text", "").strip():
            ack(text=wording.USAGE_TRIAGE, response_type="ephemeral")
            return
        self._start(ack, f"command:{_trigger(body)}", "triage", body)

    def runbook_command(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="runbook").inc()
        self._start(ack, f"command:{_trigger(body)}", "runbook", body)

    def mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="mention").inc()
        if not event.get("bot_id"):
            key = f"triage:{event.get('channel')}:{event.get('ts')}"
            self.deliveries.start(key, "mention", {"event": event, "team_id": body.get("team_id")})

    def message(self, event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        """New messages in watched channels (and DMs to the bot) that may hold a log."""
        direct = event.get("channel_type") == "im"
        if not (direct or event.get("channel") in self.settings.watched_channels):
            return
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return
        if event.get("thread_ts") not in (None, event.get("ts")):
            return  # replies in threads: mention the bot there
        mentioned = context.bot_user_id and f"<@{context.bot_user_id}>" in event.get("text", "")
        if mentioned and not direct:
            return  # the app_mention event answers this one (Slack sends none for DMs)
        REQUESTS.labels(kind="watched").inc()
        key = f"triage:{event.get('channel')}:{event.get('ts')}"
        self.deliveries.start(key, "watched", {"event": event, "team_id": body.get("team_id")})

    def shortcut(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="shortcut").inc()
        self._start(ack, f"shortcut:{_trigger(body)}", "shortcut", body)

    def helpful(self, ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        REQUESTS.labels(kind="feedback").inc()
        user = body["user"]["id"]
        notice = self.oncall.feedback(int(body["actions"][0]["value"]), user, "helpful")
        ack()
        message = body.get("message")
        if notice.problem or message is None or body.get("container", {}).get("is_ephemeral"):
            text = blocks.escape(notice.text)
            self.deliveries.soon(
                lambda: respond(text=text, response_type="ephemeral", replace_original=False)
            )
            return
        marked = blocks.with_mark(
            message["blocks"], wording.MARKED_HELPFUL.format(who=f"<@{user}>")
        )
        update = {
            "channel": body["channel"]["id"],
            "ts": message["ts"],
            "blocks": marked,
            "text": message.get("text", ""),
        }
        self.deliveries.soon(lambda: self.deliveries.call("chat_update", **update))

    def not_this(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="feedback").inc()
        ack()
        message = body.get("message") or {}
        metadata = {
            "answer": int(body["actions"][0]["value"]),
            "channel": (body.get("channel") or {}).get("id"),
            "thread": message.get("thread_ts") or message.get("ts"),
            "ephemeral": bool(body.get("container", {}).get("is_ephemeral")),
            "response_url": body.get("response_url"),
        }
        view = blocks.picker(self.oncall.entries(), json.dumps(metadata))
        # The trigger id lives 3 s: open the modal now, on the quick pool.
        trigger = body["trigger_id"]
        self.deliveries.soon(
            lambda: self.deliveries.call("views_open", trigger_id=trigger, view=view)
        )

    def pick(self, ack: Ack, body: dict[str, Any]) -> None:
        key = f"pick:{body['view'].get('id')}:{body['user']['id']}"
        try:
            self.deliveries.start(key, "pick", body)
        except StoreError:
            log.exception("could not record a feedback choice")
            ack(response_action="errors", errors={blocks.PICKER_BLOCK: wording.FAILED})
            return
        ack()


def check_token(settings: Settings, client: WebClient | None = None) -> str | None:
    """The bot's user id, once Slack has accepted the token (auth.test); else
    SlackSetupError saying why (`serve` asks before it loads the model)."""
    client = client or web_client(settings)
    sdk_log = logging.getLogger("slack_sdk")
    level = sdk_log.level
    sdk_log.setLevel(logging.CRITICAL)  # its own ERROR lines would come before ours, unclear
    try:
        user_id: str | None = client.auth_test().get("user_id")
    except SlackApiError as exc:
        error = exc.response.get("error")
        raise SlackSetupError(f"Slack refused the bot token (SLACK_BOT_TOKEN): {error}") from exc
    except OSError as exc:  # urllib's URLError and socket errors: no Slack to talk to
        reason = getattr(exc, "reason", exc)
        raise SlackSetupError(
            f"cannot reach Slack at {settings.slack_api_url} (SLACK_API_URL): {reason}"
        ) from exc
    finally:
        sdk_log.setLevel(level)
    return user_id


def connect_deliveries(
    settings: Settings, oncall: Oncall, client: WebClient | None = None
) -> Deliveries:
    """The deliveries' worker, with a client whose token Slack has accepted (auth.test)."""
    client = client or web_client(settings)
    return Deliveries(settings, oncall, client, check_token(settings, client))


def build_app(
    settings: Settings,
    oncall: Oncall,
    client: WebClient | None = None,
    deliveries: Deliveries | None = None,
    dispatcher: Dispatcher | None = None,
) -> App:
    """The bolt App with every listener; it starts nothing (bot.slack.http and .socket do)."""
    deliveries = deliveries or connect_deliveries(settings, oncall, client)
    secret = settings.slack_signing_secret
    try:
        app = App(
            client=deliveries.client,
            signing_secret=secret.get_secret_value() if secret else "",
            ignoring_self_events_enabled=True,
            raise_error_for_unhandled_request=False,
            # Listeners only claim and queue: answer Slack when they are done, never before.
            process_before_response=True,
        )
    except SlackBoltError as exc:
        raise SlackSetupError(f"Slack refused the bot token (SLACK_BOT_TOKEN): {exc}") from exc
    on = _Listeners(settings, deliveries)
    app.use(on.only_allowed)
    app.command("/triage")(on.triage_command)
    app.command("/runbook")(on.runbook_command)
    app.event("app_mention")(on.mention)
    app.event("message")(on.message)
    app.shortcut(SHORTCUT)(on.shortcut)
    app.action(blocks.HELPFUL_ACTION)(on.helpful)
    app.action(blocks.NOT_THIS_ACTION)(on.not_this)
    app.view(blocks.PICKER_CALLBACK)(on.pick)
    if dispatcher is not None:
        add_run_listeners(app, settings, dispatcher)
    return app
