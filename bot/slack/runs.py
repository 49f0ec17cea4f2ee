"""Runner jobs in Slack: /smoke, /eager, /fallback, /runners, the next-step, Cancel and
"Run on a host" buttons, and the reporter that keeps each job's status message current
and posts its verdict in the thread.

Who may dispatch is configured (users, user groups, channels); every attempt, allowed or
not, is in the dispatch audit. Command text becomes a checked `JobSpec` or an error the
asker sees; nothing of it reaches a shell.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError

from bot.metrics import DISPATCHES, REQUESTS, SLACK_ERRORS
from bot.render import run_blocks
from bot.render.mrkdwn import escape
from bot.settings import Settings
from bot.slack.autopilot import Ladders, add_ladder_listeners
from bot.slack.deliveries import Deliveries
from bot.slack.threads import RunThread, RunThreads, origin
from runners import (
    Done,
    Job,
    JobSpec,
    JobStore,
    Playbook,
    SpecError,
    check_spec,
    next_spec,
    parse_command,
    usage,
)

log = logging.getLogger("ascend_oncall.runs")

GROUPS_TTL_S = 300.0
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "timeout"}
CANNOT_POST = (
    "Job {job} was not started: I cannot post its progress here ({error}). "
    "Invite me with `/invite @ascend-oncall`, then ask again."
)
NOBODY = (
    "Nobody may dispatch runner jobs yet: an admin sets ONCALL_DISPATCH_USERS, "
    "ONCALL_DISPATCH_GROUPS or ONCALL_DISPATCH_CHANNELS."
)


class Dispatcher:
    """Checks who asks, records the attempt, queues the job, posts its status message."""

    def __init__(self, settings: Settings, store: JobStore, deliveries: Deliveries) -> None:
        self.settings, self.store, self.deliveries = settings, store, deliveries
        self.threads = RunThreads(store)  # where each job is in Slack, and what it showed
        self._groups: dict[str, tuple[float, set[str]]] = {}

    def _in_groups(self, user: str) -> bool:
        for group in self.settings.dispatch_groups:
            at, members = self._groups.get(group, (0.0, set()))
            if time.monotonic() - at > GROUPS_TTL_S:
                try:
                    reply = self.deliveries.client.usergroups_users_list(usergroup=group)
                    members = set(reply.get("users") or [])
                except SlackApiError as exc:
                    SLACK_ERRORS.labels(method="usergroups.users.list").inc()
                    log.warning("cannot read user group %s: %s", group, exc.response.get("error"))
                    members = set()
                self._groups[group] = (time.monotonic(), members)
            if user in members:
                return True
        return False

    def refusal(self, user: str, channel: str | None) -> str | None:
        """Why `user` may not dispatch here, or None."""
        s = self.settings
        if not (s.dispatch_users or s.dispatch_groups or s.dispatch_channels):
            return NOBODY
        if s.dispatch_channels and channel not in s.dispatch_channels:
            return "Runner jobs may be dispatched only from these channels: " + ", ".join(
                f"<#{c}>" for c in s.dispatch_channels
            )
        people = s.dispatch_users or s.dispatch_groups
        if people and user not in s.dispatch_users and not self._in_groups(user):
            return "You are not among the people allowed to dispatch runner jobs (ask an admin)."
        return None

    def dispatch(
        self,
        spec_or_text: JobSpec | tuple[Playbook, str],
        *,
        user: str,
        channel: str | None,
        thread_ts: str | None,
        team_id: str | None,
        source: str,
        parent_id: int | None = None,
        request_key: str | None = None,
        response_url: str | None = None,
    ) -> tuple[Job | None, str]:
        """(the queued job, "") or (None, why not). The status message is posted soon after."""
        command = (
            spec_or_text.describe()
            if isinstance(spec_or_text, JobSpec)
            else f"/{spec_or_text[0]} {spec_or_text[1]}"
        )
        why = self.refusal(user, channel)
        if why is None:
            try:
                if isinstance(spec_or_text, JobSpec):
                    spec = check_spec(
                        spec_or_text,
                        self.settings.model_roots,
                        strict_paths=False,
                        remote_code=self.settings.allow_remote_code,
                    )
                else:
                    spec = parse_command(*spec_or_text, self.settings.allow_remote_code)
                    spec = check_spec(
                        spec,
                        self.settings.model_roots,
                        strict_paths=False,
                        remote_code=self.settings.allow_remote_code,
                    )
            except SpecError as exc:  # it quotes what the user typed: shown, never parsed
                why = escape(str(exc))
        if why is None and not self.store.served(spec.labels):
            why = (
                f"No agent has the labels {escape(', '.join(spec.labels))}: `/runners` lists the "
                "agents and their labels."
                if spec.labels
                else "No runner agent is registered yet: `/runners` says how to add one."
            )
        if why is None:
            why = self.store.queue_refusal(user, self.settings.max_queued_per_user)
        DISPATCHES.labels(allowed=str(why is None).lower()).inc()
        if why is not None:
            self.store.audit(
                source=source,
                command=command,
                allowed=False,
                reason=why,
                user_id=user,
                origin=channel,
            )
            return None, why
        job = self.store.submit(
            spec,
            request_key=request_key,
            requested_by=user,
            origin=origin(channel, thread_ts, team_id),
            parent_id=parent_id,
        )
        if job.repeat:  # a second click on the same button
            return None, f"Job {job.id} was already dispatched from this button."
        self.store.audit(
            source=source,
            command=command,
            allowed=True,
            user_id=user,
            origin=channel,
            job_id=job.id,
        )
        where = self.threads.claim_post(job)
        if where is not None:
            self.deliveries.soon(lambda: self.post_status(job, where, response_url))
        return job, ""

    def post_status(self, job: Job, where: RunThread, response_url: str | None = None) -> None:
        """The job's status message, once; the reporter keeps it current from then on.
        Where the bot cannot post, the job is cancelled (nobody would see its verdict) and
        the asker is told how to invite the bot."""
        try:
            sent = self.deliveries.client.chat_postMessage(
                channel=where.channel_id,
                thread_ts=where.thread_ts,
                blocks=run_blocks.status_blocks(job),
                text=run_blocks.status_text(job),
            )
        except SlackApiError as exc:
            SLACK_ERRORS.labels(method="chat.postMessage").inc()
            error = exc.response.get("error")
            log.warning("cannot post job %s status: %s", job.id, error)
            self.store.cancel(job.id, None)
            if response_url:
                text = CANNOT_POST.format(job=job.id, error=error)
                Respond(response_url=response_url)(text=text, response_type="ephemeral")
            return
        self.threads.set_message(job.id, str(sent["ts"]))
        if job.spec.autopilot:  # the ladder's own message, once, in the same thread
            Ladders(self, self.settings).open(job, where.channel_id, where.reply_ts or sent["ts"])


def form_values(view: dict[str, Any]) -> tuple[str, str]:
    """(playbook, command text) from a submitted dispatch form, in /smoke's own syntax."""
    state = view["state"]["values"]
    playbook = state["playbook"]["playbook"]["selected_option"]["value"]
    model = (state["model"]["model"].get("value") or "").strip()
    args = (state["args"]["args"].get("value") or "").strip()
    chosen = state["fallback"]["fallback"].get("selected_option")
    words = [chosen["value"]] if playbook == "fallback" and chosen else []
    return playbook, " ".join([*words, model, args]).strip()


class RunListeners:
    def __init__(self, settings: Settings, dispatcher: Dispatcher) -> None:
        self.settings, self.dispatcher = settings, dispatcher
        self.store, self.deliveries = dispatcher.store, dispatcher.deliveries

    def command(self, ack: Ack, body: dict[str, Any]) -> None:
        name = body["command"].lstrip("/")
        REQUESTS.labels(kind=name).inc()
        ladder = name == "autopilot"  # its first rung is a smoke, marked as a rung
        playbook: Playbook = "smoke" if ladder else name
        text = (body.get("text") or "").strip()
        if not text or text in ("help", "-h", "--help"):
            shown = (
                usage(playbook).replace("/smoke", "/autopilot", 1) if ladder else usage(playbook)
            )
            ack(text=f"Usage: `{shown}`", response_type="ephemeral")
            return
        try:
            request: JobSpec | tuple[Playbook, str] = (playbook, text)
            if ladder:
                parsed = parse_command(playbook, text, self.settings.allow_remote_code)
                request = parsed.model_copy(update={"autopilot": True})
                if busy := Ladders(self.dispatcher, self.settings).refusal(parsed):
                    ack(text=busy, response_type="ephemeral")
                    return
            job, why = self.dispatcher.dispatch(
                request,
                user=body["user_id"],
                channel=body.get("channel_id"),
                thread_ts=None,
                team_id=body.get("team_id"),
                source="slash",
                response_url=body.get("response_url"),
            )
        except SpecError as exc:  # /autopilot parses here: quote what was typed, escaped
            ack(text=escape(str(exc)), response_type="ephemeral")
            return
        except Exception as exc:  # the database away, Slack slow: say so within the ack
            log.exception("could not queue a %s job", playbook)
            ack(text=f"Could not queue the job: {type(exc).__name__}", response_type="ephemeral")
            return
        if job is None:
            ack(text=why, response_type="ephemeral")
            return
        ack()

    def runners(self, ack: Ack) -> None:
        REQUESTS.labels(kind="runners").inc()
        rows = self.store.agents()
        ack(
            blocks=run_blocks.agents_blocks(rows, self.settings.lease_s),
            text=f"{len(rows)} runner agent(s)",
            response_type="ephemeral",
        )

    def next_step(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        value = json.loads(body["actions"][0]["value"])
        parent = self.store.job(int(value["job"]))
        message = body.get("message") or {}
        if parent is None:
            return
        if value["next"] == "autopilot":  # the ladder from this verdict on
            ladders = Ladders(self.dispatcher, self.settings)
            decision = ladders.next_rung(parent)
            if isinstance(decision, Done):
                self._tell(body, f"Autopilot: {escape(decision.why)}")
                return
            if busy := ladders.refusal(decision.spec):
                self._tell(body, busy)
                return
            spec = decision.spec
        else:
            spec = next_spec(parent.spec, str(value["next"]))
        job, why = self.dispatcher.dispatch(
            spec,
            user=body["user"]["id"],
            channel=(body.get("channel") or {}).get("id"),
            thread_ts=message.get("thread_ts") or message.get("ts"),
            team_id=(body.get("team") or {}).get("id"),
            source="button",
            parent_id=parent.id,
            request_key=f"next:{parent.id}:{value['next']}:{message.get('ts')}",
        )
        if job is None:
            self._tell(body, why)

    def cancel(self, ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        job_id = int(body["actions"][0]["value"])
        job = self.store.job(job_id)
        why = self.dispatcher.refusal(user, (body.get("channel") or {}).get("id"))
        if job is not None and why is not None and user != job.requested_by:
            self._tell(body, why)
            return
        self.store.cancel(job_id, user)
        self.store.audit(
            source="button",
            command=f"cancel job {job_id}",
            allowed=True,
            user_id=user,
            origin=(body.get("channel") or {}).get("id"),
            job_id=job_id,
        )

    def form(self, ack: Ack, body: dict[str, Any]) -> None:
        """ "Run on a host" under a triage answer: the dispatch form, in its thread."""
        ack()
        message = body.get("message") or {}
        metadata = json.dumps(
            {
                "channel": (body.get("channel") or {}).get("id"),
                "thread": message.get("thread_ts") or message.get("ts"),
            }
        )
        try:
            model = str(json.loads(body["actions"][0].get("value") or "{}").get("model") or "")
        except (ValueError, AttributeError):
            model = ""
        view = run_blocks.dispatch_form(metadata, model)
        trigger = body["trigger_id"]
        self.deliveries.soon(
            lambda: self.deliveries.call("views_open", trigger_id=trigger, view=view)
        )

    def submit_form(self, ack: Ack, body: dict[str, Any]) -> None:
        view = body["view"]
        playbook, text = form_values(view)
        meta = json.loads(view.get("private_metadata") or "{}")
        job, why = self.dispatcher.dispatch(
            (playbook, text),  # type: ignore[arg-type]
            user=body["user"]["id"],
            channel=meta.get("channel"),
            thread_ts=meta.get("thread"),
            team_id=(body.get("team") or {}).get("id"),
            source="form",
        )
        if job is None:
            ack(response_action="errors", errors={"model": why[:150]})
            return
        ack()

    def _tell(self, body: dict[str, Any], text: str) -> None:
        channel = (body.get("channel") or {}).get("id")
        user = body["user"]["id"]
        if channel:
            said = {"channel": channel, "user": user, "text": text}
            self.deliveries.soon(lambda: self.deliveries.call("chat_postEphemeral", **said))


def add_run_listeners(app: App, settings: Settings, dispatcher: Dispatcher) -> None:
    on = RunListeners(settings, dispatcher)
    for name in ("/smoke", "/eager", "/fallback", "/doctor", "/autopilot"):
        app.command(name)(on.command)
    app.command("/runners")(on.runners)
    app.action(run_blocks.RUN_ACTION)(on.next_step)
    app.action(run_blocks.CANCEL_ACTION)(on.cancel)
    app.action(run_blocks.FORM_ACTION)(on.form)
    app.view(run_blocks.DISPATCH_CALLBACK)(on.submit_form)
    add_ladder_listeners(app, dispatcher)
