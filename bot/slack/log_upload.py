"""The server log of a finished job, as a file in its Slack thread (files upload v2),
once: after its verdict is posted, and on a later round when Slack could not take it
then. The store hands each upload to one replica (a conditional claim, as for verdicts),
so a retry or a second replica never uploads it twice; an upload never holds up a verdict.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.metrics import SLACK_ERRORS
from bot.slack.threads import RunThread, RunThreads
from runners import Job

log = logging.getLogger("ascend_oncall.runs")

# Errors worth another try later; any other refusal (a missing scope, an archived channel)
# will not change, and the upload is given up. (The same words as the reporter's.)
TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "timeout"}
)
HINTS = {
    "missing_scope": "the Slack app needs the files:write scope (bot/data/slack-manifest.yml)",
    "not_in_channel": "invite the bot to the channel",
}


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def log_filename(job: Job) -> str:
    """`job-12-Qwen3-8B.log`: the model's last path part, in plain characters."""
    model = job.spec.model.rstrip("/").rsplit("/", 1)[-1]
    model = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[:60]
    return f"job-{job.id}-{model or 'model'}.log"


def log_comment(job_id: int, total_bytes: int, kept_bytes: int) -> str:
    """What the thread reads above the file."""
    if total_bytes > kept_bytes:
        return (
            f"Server log of job {job_id} (redacted), cut to {_size(kept_bytes)} of "
            f"{_size(total_bytes)}: its start and its end, with a note where the middle was."
        )
    return f"Server log of job {job_id} (redacted)."


class LogUploads:
    """Uploads of job logs to their threads; `soon` runs one off the reporter's loop."""

    def __init__(
        self,
        threads: RunThreads,
        client: WebClient,
        soon: Callable[[Callable[[], object]], None],
        retry_after_s: float = 120.0,
    ) -> None:
        self.threads, self.store = threads, threads.jobs
        self.client, self.soon = client, soon
        # A claimed upload not done by then is offered again: longer than one upload takes.
        self.retry_after_s = retry_after_s

    def after_verdict(self, job: Job, where: RunThread) -> None:
        """The verdict of `job` is in its thread: its log follows, if it has one."""
        if self.store.claim_log_upload(job.id, self.retry_after_s) is not None:
            self.soon(partial(self._upload, job, where))

    def sweep(self) -> int:
        """Logs whose verdict is in chat but which are not: uploads failed or never tried
        (the bot stopped in between). Returns how many were started."""
        started = 0
        for job_id in self.threads.logs_to_post(self.retry_after_s):
            job, where = self.store.job(job_id), self.threads.thread(job_id)
            if job is None or where is None:
                continue
            if self.store.claim_log_upload(job_id, self.retry_after_s):
                self.soon(partial(self._upload, job, where))
                started += 1
        return started

    def _upload(self, job: Job, where: RunThread) -> None:
        found = self.store.log(job.id)
        if found is None:
            return
        data = found.text.encode()
        try:
            reply = self.client.files_upload_v2(
                channel=where.channel_id,
                thread_ts=where.reply_ts,
                content=data,
                filename=log_filename(job),
                title=f"Server log of job {job.id}",
                initial_comment=log_comment(job.id, found.total_bytes, len(data)),
            )
        except SlackApiError as exc:
            SLACK_ERRORS.labels(method="files.upload").inc()
            error = str(exc.response.get("error"))
            if error in TRANSIENT:
                log.warning("job %s: log upload failed (%s); trying again later", job.id, error)
                return
            hint = f": {HINTS[error]}" if error in HINTS else ""
            log.warning("job %s: log upload refused (%s)%s; not tried again", job.id, error, hint)
            self.store.log_given_up(job.id)
            return
        except (SlackClientError, OSError) as exc:  # the upload URL away, no route to Slack
            SLACK_ERRORS.labels(method="files.upload").inc()
            log.warning("job %s: log upload failed (%s); trying again later", job.id, exc)
            return
        file = reply.get("file") or {}
        self.store.log_posted(job.id, str(file.get("id") or "") or None)
