"""The work behind Slack requests, done after the ack on the bot's own worker threads.

Every request that needs work becomes a delivery: a kind and the JSON payload Slack sent,
claimed in the store under a key (the message, or the command's trigger id) before the ack.
A retry or second delivery of the same thing finds the key taken and is dropped. A delivery
stays `pending` until its answer is posted, so one cut short by a crash is picked up again
by `resume_stalled` (in this replica or another). (Runner jobs are another thing: runners.)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core import wording
from bot.core.answers import Answer, Notice, TriageAnswer
from bot.core.oncall import Oncall
from bot.core.store import DeliveryStatus
from bot.errors import FileFetchError, StoreError
from bot.metrics import DUPLICATES, SLACK_ERRORS
from bot.render import blocks
from bot.settings import Settings
from bot.slack.files import fetch, is_text_file
from bot.slack.text import slack_text

log = logging.getLogger("ascend_oncall.slack")

CANNOT_POST = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
_THREAD_PAGES = 5
# Ordinary pastes read in well under a second, a 16 MB log in a few; past this the asker is
# told to paste less, and the worker thread is free for the next question.
TRIAGE_LIMIT_S = 30.0


class Deliveries:
    def __init__(
        self,
        settings: Settings,
        oncall: Oncall,
        client: WebClient,
        bot_user_id: str | None,
        triage_s: float = TRIAGE_LIMIT_S,
    ) -> None:
        self.settings = settings
        self.oncall = oncall
        self.client = client
        self.bot_user_id = bot_user_id
        self.triage_s = triage_s
        # Triage runs here, never on bolt's threads, so acks never queue behind it.
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="oncall-work")
        # Reading a paste runs apart from the delivery that waits on it, with a time limit: a
        # thread cannot be stopped, so one over time finishes here unheard, and the bound
        # keeps such reads from piling up (later ones wait, and time out, in the queue).
        self.readers = ThreadPoolExecutor(settings.workers, thread_name_prefix="oncall-read")
        # Quick calls people wait on (a modal, a mark, a notice): never behind a triage.
        self.quick = ThreadPoolExecutor(4, thread_name_prefix="oncall-quick")
        self._live: set[str] = set()  # keys queued or running in this process
        self._live_lock = threading.Lock()

    def start(self, key: str, kind: str, payload: dict[str, Any]) -> bool:
        """Claim and queue a delivery; False (nothing queued) when it was claimed before.

        Raises StoreError when the database cannot take the claim: the caller says so.
        """
        payload = {k: v for k, v in payload.items() if k != "token"}  # Slack's legacy secret
        if not self.oncall.store.claim_delivery(key, kind, payload):
            DUPLICATES.inc()
            return False
        self._queue(key, kind, payload)
        return True

    def soon(self, call: Callable[[], object]) -> None:
        """A quick call off the ack path; its failure is logged, not raised."""

        def run() -> None:
            try:
                call()
            except Exception:
                log.exception("a quick Slack call failed")

        self.quick.submit(run)

    def live(self) -> list[str]:
        with self._live_lock:
            return sorted(self._live)

    def keep_alive(self) -> None:
        """Tell other replicas (and ourselves after this) our deliveries are not stalled."""
        self.oncall.store.touch(self.live())

    def resume_stalled(self) -> int:
        """Queue again the deliveries whose worker died (a crash, a restart mid-answer)."""
        stalled = self.oncall.store.stalled(exclude=set(self.live()))
        for delivery in stalled:
            log.warning("resuming %s delivery %s left unfinished", delivery.kind, delivery.key)
            self._queue(delivery.key, delivery.kind, delivery.payload)
        return len(stalled)

    def close(self) -> None:
        """Stop taking work; what is queued stays pending in the database for the next start."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.quick.shutdown(wait=False, cancel_futures=True)
        self.readers.shutdown(wait=False, cancel_futures=True)

    def _queue(self, key: str, kind: str, payload: dict[str, Any]) -> None:
        with self._live_lock:
            self._live.add(key)
        self.pool.submit(self.run, key, kind, payload)

    def run(self, key: str, kind: str, payload: dict[str, Any]) -> None:
        try:
            if self.oncall.store.delivery_status(key) is not DeliveryStatus.PENDING:
                return  # finished elsewhere meanwhile
            try:
                getattr(self, f"_{kind}")(payload)
                status = DeliveryStatus.DONE
            except Exception:  # seen in the log and by the asker, never lost in a future
                log.exception("%s delivery %s failed", kind, key)
                status = DeliveryStatus.FAILED
                self._say_failed(kind, payload)
            self._finish(key, status)
        finally:
            with self._live_lock:
                self._live.discard(key)

    def _finish(self, key: str, status: DeliveryStatus) -> None:
        for attempt in (1, 2, 3):
            try:
                self.oncall.store.finish_delivery(key, status)
                return
            except StoreError:
                log.warning("could not mark delivery %s %s (attempt %d)", key, status, attempt)
                time.sleep(attempt)
        log.error("delivery %s stays pending: it may be answered again", key)

    def _say_failed(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            url = payload.get("response_url") or _metadata(payload).get("response_url")
            if url:
                Respond(response_url=url)(text=wording.FAILED, response_type="ephemeral")
            elif kind == "mention" or payload.get("event", {}).get("channel_type") == "im":
                event = payload["event"]
                self.client.chat_postMessage(
                    channel=event["channel"],
                    thread_ts=event.get("thread_ts") or event["ts"],
                    text=wording.FAILED,
                )
        except Exception:
            log.exception("could not tell the asker that a %s delivery failed", kind)

    # -- the kinds of delivery ---------------------------------------------------------------

    def _triage(self, body: dict[str, Any]) -> None:
        answer = self._read(
            slack_text(body["text"]),
            source="slash",
            asked_by=body.get("user_id"),
            team_id=body.get("team_id"),
            channel_id=body.get("channel_id"),
        )
        self.post(body["channel_id"], None, answer, _respond(body))

    def _runbook(self, body: dict[str, Any]) -> None:
        answer = self.oncall.runbook(slack_text(body.get("text", "")))
        _respond(body)(
            blocks=blocks.render(answer),
            text=blocks.fallback_text(answer),
            response_type="ephemeral",
        )

    def _mention(self, payload: dict[str, Any]) -> None:
        event = payload["event"]
        channel, thread = event["channel"], event.get("thread_ts")
        messages = self._thread(channel, thread, event["ts"]) if thread else [event]
        self._triage_messages(
            messages, channel, thread or event["ts"], payload.get("team_id"), "mention", event
        )

    def _watched(self, payload: dict[str, Any]) -> None:
        event = payload["event"]
        asked = event.get("channel_type") == "im"  # a direct message to the bot is a question
        files = [f for f in event.get("files", []) if _maybe_log(f)]
        text = slack_text(event.get("text", ""), self.bot_user_id)
        if not (asked or files or self._looks_like_error(text)):
            return
        self._triage_messages(
            [event],
            event["channel"],
            event["ts"],
            payload.get("team_id"),
            "watched",
            event,
            quiet=not asked,
        )

    def _shortcut(self, body: dict[str, Any]) -> None:
        message, channel = body["message"], body["channel"]["id"]
        thread = message.get("thread_ts") or message["ts"]
        asker = {"user": body["user"]["id"]}
        team = (body.get("team") or {}).get("id")
        self._triage_messages(
            [message], channel, thread, team, "shortcut", asker, respond=_respond(body)
        )

    def _pick(self, body: dict[str, Any]) -> None:
        view, user = body["view"], body["user"]["id"]
        meta = json.loads(view["private_metadata"])
        state = view["state"]["values"][blocks.PICKER_BLOCK][blocks.PICKER_ELEMENT]
        value = state["selected_option"]["value"]
        entry_id = None if value == blocks.NONE_VALUE else value
        notice = self.oncall.feedback(meta["answer"], user, "not_this", entry_id)
        if meta.get("ephemeral") or not meta.get("channel"):
            if meta.get("response_url"):
                _respond(meta)(
                    text=blocks.escape(notice.text),
                    response_type="ephemeral",
                    replace_original=False,
                )
            return
        if not notice.problem:
            titles = {e.id: e.title for e in self.oncall.entries()}
            who = f"<@{user}>"
            mark = (
                wording.MARKED_NOT_THIS.format(who=who, title=blocks.escape(titles[entry_id]))
                if entry_id
                else wording.MARKED_NONE.format(who=who)
            )
            self.call(
                "chat_postMessage", channel=meta["channel"], thread_ts=meta.get("thread"), text=mark
            )
        self.call(
            "chat_postEphemeral",
            channel=meta["channel"],
            user=user,
            text=blocks.escape(notice.text),
        )

    # -- pieces -------------------------------------------------------------------------------

    def _read(self, text: str | bytes, **about: Any) -> TriageAnswer | Notice:
        """The core's triage, given at most `triage_s`; past that, a notice to paste less."""
        reading = self.readers.submit(self.oncall.triage, text, **about)
        try:
            return reading.result(timeout=self.triage_s)
        except FutureTimeout:
            reading.cancel()  # if it is still queued it never starts
            log.warning("triage of a %d-character paste took over %.0f s", len(text), self.triage_s)
            return Notice(wording.TOO_SLOW, problem=True)

    def _looks_like_error(self, text: str) -> bool:
        """Whether an unasked message is worth answering; one too slow to tell is not."""
        reading = self.readers.submit(self.oncall.looks_like_error, text)
        try:
            return reading.result(timeout=self.triage_s)
        except FutureTimeout:
            reading.cancel()
            log.warning(
                "a %d-character message took over %.0f s to check", len(text), self.triage_s
            )
            return False

    def _thread(self, channel: str, thread: str, upto: str) -> list[dict[str, Any]]:
        """The thread's parent and the replies above (and including) the mention."""
        messages: list[dict[str, Any]] = []
        cursor = None
        for _ in range(_THREAD_PAGES):
            page = self.client.conversations_replies(
                channel=channel, ts=thread, latest=upto, inclusive=True, limit=200, cursor=cursor
            )
            messages += page.get("messages", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return [m for m in messages if float(m["ts"]) <= float(upto) and not self._ours(m)]

    def _ours(self, message: dict[str, Any]) -> bool:
        return bool(self.bot_user_id) and message.get("user") == self.bot_user_id

    def _triage_messages(
        self,
        messages: list[dict[str, Any]],
        channel: str,
        thread: str,
        team_id: str | None,
        source: str,
        asker: dict[str, Any],
        respond: Respond | None = None,
        quiet: bool = False,
    ) -> None:
        parts: list[bytes] = []
        notes: list[str] = []
        for message in messages:
            text = slack_text(message.get("text", ""), self.bot_user_id)
            if text:
                parts.append(text.encode())
            for file in message.get("files", []):
                self._add_file(file, parts, notes)
        if not parts:
            if not quiet:
                self.post(
                    channel, thread, Notice(" ".join([wording.NOTHING_IN_THREAD, *notes])), respond
                )
            return
        answer = self._read(
            b"\n".join(parts),
            source=source,
            asked_by=asker.get("user"),
            team_id=team_id,
            channel_id=channel,
            thread_ts=thread,
            notes=tuple(notes),
        )
        unasked_and_empty = isinstance(answer, Notice) or (
            answer.triage.verdict == "no_match" and answer.triage.signature is None
        )
        if quiet and unasked_and_empty:
            return  # nobody asked, and there is nothing to say: stay out of the channel
        self.post(channel, thread, answer, respond)

    def _add_file(self, file: dict[str, Any], parts: list[bytes], notes: list[str]) -> None:
        if not _maybe_log(file):
            name = file.get("name", "a file")
            notes.append(wording.FILES_SKIPPED.format(names=name, reason="not a text file"))
            return
        try:
            got = fetch(
                self.client,
                file["id"],
                token=self.client.token or "",
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
        self, channel: str, thread: str | None, answer: Answer, respond: Respond | None
    ) -> None:
        """Post in the channel (or thread); where the bot may not post, only the asker sees it."""
        rendered = blocks.render(answer, run_button=self.settings.dispatch_configured)
        text = blocks.fallback_text(answer)
        try:
            sent = self.client.chat_postMessage(
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
                return
            raise
        if isinstance(answer, TriageAnswer):
            self.oncall.store.set_message(answer.answer_id, channel, str(sent["ts"]))

    def call(self, method: str, **kwargs: Any) -> None:
        """A Web API call whose failure is logged and counted, not raised."""
        try:
            getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            SLACK_ERRORS.labels(method=method).inc()
            log.warning("%s failed: %s", method, exc.response.get("error"))


def _metadata(payload: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(payload["view"]["private_metadata"]))
    except (KeyError, TypeError, ValueError):
        return {}


def _respond(payload: dict[str, Any]) -> Respond:
    return Respond(response_url=payload["response_url"])


def _maybe_log(file: dict[str, Any]) -> bool:
    # Slack Connect files arrive without name or type until files.info is asked.
    return is_text_file(file) or file.get("file_access") == "check_file_info"
