"""The Slack app: one function builds the bolt `App` and registers its listeners.

It starts nothing; `bot.slack_http` and `bot.slack_socket` are the transports. Listeners
ack first and leave triage to lazy listeners (or, for events, to bolt's thread after its
automatic ack), so Slack always has its answer within 3 s. A retried or duplicated
delivery is recognised by its event id (and the message it is about) in the database.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_bolt.error import BoltError as SlackBoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot import blocks, wording
from bot.answers import Answer, Notice, TriageAnswer
from bot.core import Oncall
from bot.errors import FileFetchError, SlackSetupError
from bot.metrics import DUPLICATES, REQUESTS, SLACK_ERRORS
from bot.settings import Settings
from bot.slack_files import fetch, is_text_file

log = logging.getLogger("ascend_oncall.slack")

CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
SHORTCUT = "triage_message"
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")
_THREAD_PAGES = 5


def slack_text(text: str, bot_user_id: str | None = None) -> str:
    """A message's text as the user typed it: links unwrapped, entities decoded."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    text = _LINK.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


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


class _Listeners:
    def __init__(self, settings: Settings, oncall: Oncall, token: str) -> None:
        self.settings = settings
        self.oncall = oncall
        self.token = token

    # -- middleware ---------------------------------------------------------------------

    def drop_repeats(self, body: dict[str, Any], next: Any) -> BoltResponse | None:
        """A retried event (X-Slack-Retry-Num) carries the event id of one already handled."""
        event_id = body.get("event_id")
        repeated = body.get("type") == "event_callback" and event_id
        if repeated and not self.oncall.store.first_time(f"event:{event_id}"):
            DUPLICATES.inc()
            return BoltResponse(status=200, body="")
        next()
        return None

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
        if "command" in body:
            text = wording.NOT_HERE.format(place=place)
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": text})
        return BoltResponse(status=200, body="")

    # -- commands -------------------------------------------------------------------------

    def ack_triage(self, ack: Ack, body: dict[str, Any]) -> None:
        REQUESTS.labels(kind="triage").inc()
        if body.get("text", "").strip():
            ack()
        else:
            ack(text=wording.USAGE_TRIAGE, response_type="ephemeral")

    def triage_command(self, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        if not body.get("text", "").strip():
            return
        answer = self.oncall.triage(
            slack_text(body["text"]),
            source="slash",
            asked_by=body.get("user_id"),
            team_id=body.get("team_id"),
            channel_id=body.get("channel_id"),
        )
        self.post(client, body["channel_id"], None, answer, respond)

    def ack_runbook(self, ack: Ack) -> None:
        REQUESTS.labels(kind="runbook").inc()
        ack()

    def runbook_command(self, body: dict[str, Any], respond: Respond) -> None:
        answer = self.oncall.runbook(slack_text(body.get("text", "")))
        respond(
            blocks=blocks.render(answer),
            text=blocks.fallback_text(answer),
            response_type="ephemeral",
        )

    # -- events ---------------------------------------------------------------------------

    def mention(self, event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        REQUESTS.labels(kind="mention").inc()
        if event.get("bot_id") or not self._claim(event):
            return
        channel, thread = event["channel"], event.get("thread_ts")
        messages = (
            self._thread(client, channel, thread, event["ts"], context) if thread else [event]
        )
        self._triage_messages(
            client, messages, channel, thread or event["ts"], context, "mention", event.get("user")
        )

    def message(self, event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """In watched channels, a new message that looks like a log (or has one attached)."""
        if event.get("channel") not in self.settings.watched_channels:
            return
        if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
            return
        if event.get("thread_ts") not in (None, event.get("ts")):
            return  # replies in threads: mention the bot there
        if context.bot_user_id and f"<@{context.bot_user_id}>" in event.get("text", ""):
            return  # the app_mention event answers this one
        has_log_file = any(is_text_file(f) for f in event.get("files", []))
        if not has_log_file and not self.oncall.looks_like_error(slack_text(event.get("text", ""))):
            return
        REQUESTS.labels(kind="watched").inc()
        if self._claim(event):
            self._triage_messages(
                client,
                [event],
                event["channel"],
                event["ts"],
                context,
                "watched",
                event.get("user"),
            )

    # -- the message shortcut -------------------------------------------------------------

    def ack_shortcut(self, ack: Ack) -> None:
        REQUESTS.labels(kind="shortcut").inc()
        ack()

    def shortcut(
        self, body: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext
    ) -> None:
        message, channel = body["message"], body["channel"]["id"]
        thread = message.get("thread_ts") or message["ts"]
        self._triage_messages(
            client, [message], channel, thread, context, "shortcut", body["user"]["id"], respond
        )

    # -- feedback -------------------------------------------------------------------------

    def helpful(self, ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        REQUESTS.labels(kind="feedback").inc()
        user = body["user"]["id"]
        notice = self.oncall.feedback(int(body["actions"][0]["value"]), user, "helpful")
        message = body.get("message")
        if notice.problem or message is None or body.get("container", {}).get("is_ephemeral"):
            respond(text=notice.text, response_type="ephemeral", replace_original=False)
            return
        marked = blocks.with_mark(
            message["blocks"], wording.MARKED_HELPFUL.format(who=f"<@{user}>")
        )
        self._call(
            client.chat_update,
            channel=body["channel"]["id"],
            ts=message["ts"],
            blocks=marked,
            text=message.get("text", ""),
        )

    def not_this(self, ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        REQUESTS.labels(kind="feedback").inc()
        metadata = json.dumps(
            {
                "answer": int(body["actions"][0]["value"]),
                "channel": (body.get("channel") or {}).get("id"),
                "thread": (body.get("message") or {}).get("thread_ts")
                or (body.get("message") or {}).get("ts"),
            }
        )
        view = blocks.picker(self.oncall.entries(), metadata)
        self._call(client.views_open, trigger_id=body["trigger_id"], view=view)

    def ack_pick(self, ack: Ack) -> None:
        ack()

    def pick(self, body: dict[str, Any], client: WebClient) -> None:
        view, user = body["view"], body["user"]["id"]
        meta = json.loads(view["private_metadata"])
        state = view["state"]["values"][blocks.PICKER_BLOCK][blocks.PICKER_ELEMENT]
        value = state["selected_option"]["value"]
        entry_id = None if value == blocks.NONE_VALUE else value
        notice = self.oncall.feedback(meta["answer"], user, "not_this", entry_id)
        if not meta.get("channel"):
            return
        if not notice.problem:
            titles = {e.id: e.title for e in self.oncall.entries()}
            who = f"<@{user}>"
            mark = (
                wording.MARKED_NOT_THIS.format(who=who, title=blocks.escape(titles[entry_id]))
                if entry_id
                else wording.MARKED_NONE.format(who=who)
            )
            self._call(
                client.chat_postMessage,
                channel=meta["channel"],
                thread_ts=meta.get("thread"),
                text=mark,
            )
        self._call(client.chat_postEphemeral, channel=meta["channel"], user=user, text=notice.text)

    # -- pieces ---------------------------------------------------------------------------

    def _claim(self, event: dict[str, Any]) -> bool:
        """One answer per message, whichever event (message, app_mention) brings it first."""
        if self.oncall.store.first_time(f"triage:{event.get('channel')}:{event.get('ts')}"):
            return True
        DUPLICATES.inc()
        return False

    def _thread(
        self, client: WebClient, channel: str, thread: str, upto: str, context: BoltContext
    ) -> list[dict[str, Any]]:
        """The thread's parent and the replies above (and including) the mention."""
        messages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(_THREAD_PAGES):
            page = client.conversations_replies(
                channel=channel, ts=thread, latest=upto, inclusive=True, limit=200, cursor=cursor
            )
            messages += page.get("messages", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        ours = {context.bot_user_id, context.bot_id} - {None}
        return [
            m
            for m in messages
            if float(m["ts"]) <= float(upto) and not ({m.get("user"), m.get("bot_id")} & ours)
        ]

    def _triage_messages(
        self,
        client: WebClient,
        messages: list[dict[str, Any]],
        channel: str,
        thread: str,
        context: BoltContext,
        source: str,
        user: str | None,
        respond: Respond | None = None,
    ) -> None:
        parts: list[str | bytes] = []
        notes: list[str] = []
        for message in messages:
            text = slack_text(message.get("text", ""), context.bot_user_id)
            if text:
                parts.append(text)
            for file in message.get("files", []):
                self._add_file(client, file, parts, notes)
        if not parts:
            text = " ".join([wording.NOTHING_IN_THREAD, *notes])
            self.post(client, channel, thread, Notice(text), respond)
            return
        paste = b"\n".join(p.encode() if isinstance(p, str) else p for p in parts)
        answer = self.oncall.triage(
            paste,
            source=source,
            asked_by=user,
            team_id=context.team_id,
            channel_id=channel,
            thread_ts=thread,
            notes=tuple(notes),
        )
        self.post(client, channel, thread, answer, respond)

    def _add_file(
        self, client: WebClient, file: dict[str, Any], parts: list[str | bytes], notes: list[str]
    ) -> None:
        if not is_text_file(file):
            notes.append(
                wording.FILES_SKIPPED.format(
                    names=file.get("name", "a file"), reason="not a text file"
                )
            )
            return
        try:
            got = fetch(
                client,
                file["id"],
                token=self.token,
                api_url=self.settings.slack_api_url,
                max_bytes=self.settings.max_file_bytes,
            )
        except FileFetchError as exc:
            notes.append(str(exc))
            return
        parts.append(got.text)
        if got.note:
            notes.append(got.note)

    def post(
        self,
        client: WebClient,
        channel: str,
        thread: str | None,
        answer: Answer,
        respond: Respond | None,
    ) -> None:
        """Post in the channel (or thread); where the bot may not post, only the asker sees it."""
        rendered, text = blocks.render(answer), blocks.fallback_text(answer)
        try:
            sent = client.chat_postMessage(
                channel=channel, thread_ts=thread, blocks=rendered, text=text, unfurl_links=False
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            SLACK_ERRORS.labels(method="chat.postMessage").inc()
            if error in CANNOT_POST and respond is not None:
                hint = blocks.context(wording.INVITE_ME.format(name=wording.NAME))
                respond(
                    blocks=blocks.limit([*rendered, hint]), text=text, response_type="ephemeral"
                )
            else:
                log.warning("chat.postMessage failed in %s: %s", channel, error)
            return
        if isinstance(answer, TriageAnswer):
            self.oncall.store.set_message(answer.answer_id, channel, str(sent["ts"]))

    def _call(self, method: Any, **kwargs: Any) -> None:
        try:
            method(**kwargs)
        except SlackApiError as exc:
            SLACK_ERRORS.labels(method=method.__name__).inc()
            log.warning("%s failed: %s", method.__name__, exc.response.get("error"))


def build_app(settings: Settings, oncall: Oncall, client: WebClient | None = None) -> App:
    """The bolt App with every listener; it starts nothing (see slack_http, slack_socket)."""
    client = client or web_client(settings)
    secret = settings.slack_signing_secret
    try:
        app = App(
            client=client,
            signing_secret=secret.get_secret_value() if secret else "",
            ignoring_self_events_enabled=True,
            raise_error_for_unhandled_request=False,
        )
    except SlackBoltError as exc:
        raise SlackSetupError(f"Slack refused the bot token (SLACK_BOT_TOKEN): {exc}") from exc
    on = _Listeners(settings, oncall, client.token or "")
    app.use(on.drop_repeats)
    app.use(on.only_allowed)
    app.command("/triage")(ack=on.ack_triage, lazy=[on.triage_command])
    app.command("/runbook")(ack=on.ack_runbook, lazy=[on.runbook_command])
    app.event("app_mention")(on.mention)
    app.event("message")(on.message)
    app.shortcut(SHORTCUT)(ack=on.ack_shortcut, lazy=[on.shortcut])
    app.action(blocks.HELPFUL_ACTION)(on.helpful)
    app.action(blocks.NOT_THIS_ACTION)(on.not_this)
    app.view(blocks.PICKER_CALLBACK)(ack=on.ack_pick, lazy=[on.pick])
    return app
