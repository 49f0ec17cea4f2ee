"""The reporter: every change of a runner job shown in chat, the status message in place and
the verdict once in its thread, then the log file and the autopilot's next rung."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.metrics import RUNNER_VERDICTS, SLACK_ERRORS
from bot.render import run_blocks
from bot.slack.autopilot import Ladders
from bot.slack.log_upload import LogUploads
from bot.slack.runs import TRANSIENT, Dispatcher
from bot.slack.threads import RunThread
from runners import Job

log = logging.getLogger("ascend_oncall.runs")


class Reporter:
    """Shows every change of a job in chat: the status message in place, the verdict once
    in its thread. A database poll, so it works whichever replica the agent talks to."""

    def __init__(self, dispatcher: Dispatcher, every_s: float = 0.3) -> None:
        self.dispatcher, self.every_s = dispatcher, every_s
        self.post_after_s = 15.0  # a status message not posted by then: the poster died
        # Slack allows about one chat.update a second: a busy start is shown in steps.
        self.min_update_s = 1.0
        self._updated: dict[int, float] = {}
        self.store, self.deliveries = dispatcher.store, dispatcher.deliveries
        self.threads = dispatcher.threads
        self.logs = LogUploads(self.threads, self.deliveries.client, self.deliveries.soon)
        self.ladders = Ladders(dispatcher, dispatcher.settings)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every_s):
            try:
                self.once()
            except Exception:  # the database or Slack may be away a while
                log.exception("reporting job changes failed")

    def once(self) -> int:
        # Dispatched, then the bot stopped before it posted the status message.
        for job in self.threads.unposted(self.post_after_s):
            if (where := self.threads.claim_post(job)) is not None:
                self.dispatcher.post_status(job, where)
        shown = 0
        for job, where in self.threads.changed():
            recent = time.monotonic() - self._updated.get(job.id, 0.0) < self.min_update_s
            if (recent and not job.status.final) or not self.threads.claim_notice(job):
                continue  # a change shown a moment ago waits for the next round
            self._updated[job.id] = time.monotonic()
            self._show(job, where)
            shown += 1
            if job.status.final:
                self._updated.pop(job.id, None)
                RUNNER_VERDICTS.labels(playbook=job.spec.playbook, status=job.status.value).inc()
        self.logs.sweep()  # logs whose upload failed or never started, after the verdicts
        return shown

    def _show(self, job: Job, where: RunThread) -> None:
        updated = self._send(
            "chat_update",
            channel=where.channel_id,
            ts=where.message_ts,
            blocks=run_blocks.status_blocks(job),
            text=run_blocks.status_text(job),
        )
        if not updated:
            self.threads.release_notice(job)  # Slack was away: shown again next round
            return
        if job.status.final and self.threads.claim_verdict(job):
            oncall = self.deliveries.oncall
            triage = oncall.triage_run(job.result, job.id) if job.result else None
            posted = self._send(
                "chat_postMessage",
                channel=where.channel_id,
                thread_ts=where.reply_ts,
                blocks=run_blocks.verdict_blocks(job, triage),
                text=run_blocks.status_text(job),
                unfurl_links=False,
            )
            if not posted:
                self.threads.release_verdict(job)
                self.threads.release_notice(job)
            else:
                self.logs.after_verdict(job, where)  # the server log as a file, under it
                self.ladders.after_verdict(job)  # an autopilot rung: the next, or the end

    def _send(self, method: str, **kwargs: Any) -> bool:
        """False when Slack could not take it just now (worth another try); a refusal
        that will not change (a deleted message) is logged and counts as done."""
        try:
            getattr(self.deliveries.client, method)(**kwargs)
        except SlackApiError as exc:
            SLACK_ERRORS.labels(method=method).inc()
            error = exc.response.get("error")
            log.warning("%s failed: %s", method, error)
            return error not in TRANSIENT
        except OSError as exc:  # no route to Slack
            SLACK_ERRORS.labels(method=method).inc()
            log.warning("%s failed: %s", method, exc)
            return False
        return True
