"""The autopilot in Slack: `/autopilot` and the *Find a working config* button start a
ladder; each rung is a normal job (lease, heartbeat, verdict in the thread), and when a
rung's verdict is posted the next rung is chosen from the jobs' own chain in the store
(`runners.autopilot.ladder.plan`). One ladder message in the thread, posted when the first rung's
status is, is updated in place after each rung and ends with the summary; its ts and the
ladder's state are in the bot's database (`bot.core.ladders`), so a ladder survives a bot
restart. With `ONCALL_AUTOPILOT_APPROVE=each`, every relaunch waits for a click from
someone allowed to dispatch; *Stop here* ends the ladder."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App

from bot.core.ladders import LadderState, LadderStore
from bot.core.run_layout import job_result
from bot.render.ladder_blocks import (
    RUN_ACTION,
    STOP_ACTION,
    LadderView,
    RungView,
    ladder_blocks,
    ladder_text,
)
from bot.render.mrkdwn import escape
from bot.settings import Settings
from bot.slack.threads import RunThread
from runners import (
    Done,
    Job,
    JobSpec,
    Rung,
    RunResult,
    RunTriage,
    Status,
    Step,
    config_key,
    plan,
)

if TYPE_CHECKING:
    from bot.slack.runs import Dispatcher

log = logging.getLogger(__name__)
_CHAIN = 64  # ancestors read at most: a ladder is a few rungs, a loop in the data is not
_ACTIVE = 200  # queued or running jobs looked through for a ladder already climbing


class Ladders:
    def __init__(self, dispatcher: Dispatcher, settings: Settings) -> None:
        self.dispatcher, self.settings = dispatcher, settings
        self.store = dispatcher.store
        self.db = LadderStore(dispatcher.deliveries.oncall.store.engine)
        self._triaged: dict[int, RunTriage | None] = {}  # job id -> its runbook match

    def running(self, spec: JobSpec) -> Job | None:
        """A ladder for the same model on the same hosts that has a rung queued or running:
        one ladder at a time per model and host."""
        for status in (Status.QUEUED, Status.RUNNING):
            for job in self.store.recent(status, limit=_ACTIVE):
                same = job.spec.model == spec.model and job.spec.labels == spec.labels
                if job.spec.autopilot and same:
                    return job
        return None

    def refusal(self, spec: JobSpec) -> str | None:
        if (other := self.running(spec)) is not None:
            return (
                f"A ladder for {escape(spec.model)} on these hosts is running already: job "
                f"{other.id} (its thread has the rungs). Cancel it there to start another."
            )
        return None

    def chain(self, job: Job) -> list[Job]:
        """The jobs of the ladder up to `job`, first first (the chain of parents)."""
        chain: list[Job] = []
        at: Job | None = job
        while at is not None and len(chain) < _CHAIN:
            chain.append(at)
            at = self.store.job(at.parent_id) if at.parent_id else None
        return chain[::-1]

    def steps(self, job: Job) -> list[Step]:
        """The rungs that ran up to `job`, first first, each with its runbook match (the
        ladder decides from it, as `run autopilot` does) and the reason it was chosen."""
        steps: list[Step] = []
        for rung in self.chain(job):
            result = job_result(rung)  # a rung with none yet: its status
            if result.triage is None and result.first_error is not None:
                result = result.model_copy(update={"triage": self._triage(rung.id, result)})
            steps.append(Step(rung.spec, self._why(steps, rung.spec), result))
        return steps

    def _why(self, before: list[Step], spec: JobSpec) -> str:
        if not before:
            return "as asked"
        decision = plan(_base(before), before, self.settings.autopilot_steps)
        same = isinstance(decision, Rung) and config_key(decision.spec) == config_key(spec)
        return decision.why if isinstance(decision, Rung) and same else ""

    def _triage(self, job_id: int, result: RunResult) -> RunTriage | None:
        if job_id not in self._triaged:
            # None when it failed: the ladder goes on by the verdict's own next step
            self._triaged[job_id] = self.dispatcher.deliveries.oncall.triage_run(result, job_id)
        return self._triaged[job_id]

    def next_rung(self, job: Job) -> Rung | Done:
        """What the ladder does after `job`: a rung to dispatch, or its end."""
        steps = self.steps(job)
        spent = (datetime.now(UTC) - _aware(self._root(job).created_at)).total_seconds()
        if spent > self.settings.autopilot_budget_s:
            why = f"the ladder's budget of {self.settings.autopilot_budget_s:.0f} s is spent"
            return Done("timeout", why, None, ())
        decision = plan(_base(steps), steps, self.settings.autopilot_steps)
        if isinstance(decision, Rung):
            spec = decision.spec.model_copy(update={"autopilot": True})
            return Rung(spec, decision.why)
        return decision

    def open(self, job: Job, channel: str, thread_ts: str | None) -> None:
        """The first rung's status message is posted: the ladder's own message goes under
        it, once (later rungs, and other replicas, find it claimed)."""
        root = self._root(job)
        if self.db.claim_ladder(root.id, channel, thread_ts):
            self._show(job, root)

    def after_verdict(self, job: Job) -> None:
        """A rung's verdict was posted (once, by one replica): climb, wait for a click, or
        say where the ladder ended."""
        where = self.dispatcher.threads.thread(job.id)
        if not job.spec.autopilot or where is None:
            return
        root = self._root(job)
        self.db.claim_ladder(root.id, where.channel_id, where.reply_ts)  # one from before
        ladder = self.db.ladder(root.id)
        if ladder is not None and ladder.state is LadderState.DONE:
            return  # stopped by a click while this rung ran
        decision = self.next_rung(job)
        if isinstance(decision, Rung) and self.settings.autopilot_approve == "each":
            if self.db.move_ladder(root.id, LadderState.WAITING, waiting_after=job.id):
                self._show(job, root, waiting=decision)
            return
        if isinstance(decision, Rung):
            user = job.requested_by or ""
            self._end(job, root, self._climb(job, root, where, decision, user, "autopilot"))
        else:
            self._end(job, root, decision)

    def _end(self, job: Job, root: Job, done: Done | None) -> None:
        if done is not None:
            self.db.move_ladder(root.id, LadderState.DONE)
            self._show(job, root, done=done)

    def _climb(
        self, job: Job, root: Job, where: RunThread, rung: Rung, user: str, source: str
    ) -> Done | None:
        """Dispatch the next rung (the same RBAC, allow-lists and audit as any dispatch);
        the request key makes it once per rung, whoever asks twice."""
        nxt, why = self.dispatcher.dispatch(
            rung.spec,
            user=user,
            channel=where.channel_id,
            thread_ts=where.reply_ts,
            team_id=where.team_id,
            source=source,
            parent_id=job.id,
            request_key=f"autopilot:{job.id}",
        )
        if nxt is not None:
            self._show(nxt, root)
            return None
        if "already dispatched" in why:
            return None
        return Done("stopped", f"the next rung was refused: {why}", None, ())

    def approve(self, job: Job, user: str, channel: str | None) -> str | None:
        """*Run rung N* clicked: dispatch the rung that waits after `job`; what to tell
        the clicker, or None."""
        root, where = self._root(job), self.dispatcher.threads.thread(job.id)
        if where is None:
            return None
        decision = self.next_rung(job)
        if self.dispatcher.refusal(user, channel) is not None:
            spec = decision.spec if isinstance(decision, Rung) else job.spec
            _, why = self.dispatcher.dispatch(  # refused there too, and in the audit
                spec, user=user, channel=channel, thread_ts=None, team_id=None, source="button"
            )
            return why
        if not self.db.move_ladder(
            root.id, LadderState.CLIMBING, expect=LadderState.WAITING, expect_after=job.id
        ):  # another click, or a Stop, came first
            return "This rung was answered already."
        if isinstance(decision, Rung):
            self._end(job, root, self._climb(job, root, where, decision, user, "button"))
        else:
            self._end(job, root, decision)
        return None

    def stop(self, job: Job, user: str, channel: str | None) -> str | None:
        """*Stop here* clicked: the ladder ends with what it learned."""
        why = self.dispatcher.refusal(user, channel)
        if why is not None and user != job.requested_by:
            return why
        root = self._root(job)
        if not self.db.move_ladder(
            root.id, LadderState.DONE, expect=LadderState.WAITING, expect_after=job.id
        ):
            return "This rung was answered already."
        steps = self.steps(job)
        ruled = tuple(s.result.verdict for s in steps if s.result.status is not Status.PASSED)
        said = f"stopped before rung {len(steps) + 1}: Stop here was clicked"
        self._show(job, root, done=Done("stopped", said, None, ruled), stopped_by=user)
        return None

    def _root(self, job: Job) -> Job:
        chain = self.chain(job)
        return chain[0] if chain else job

    def _show(
        self,
        job: Job,
        root: Job,
        done: Done | None = None,
        waiting: Rung | None = None,
        stopped_by: str | None = None,
    ) -> None:
        """The ladder message as it stands at `job`: posted once, then updated in place."""
        ladder = self.db.ladder(root.id)
        if ladder is None:
            return
        steps = self.steps(job)
        rungs = [  # the step's result: the job's, with the runbook match the ladder read
            RungView(j.id, s.spec, s.why, j.status.value, s.result if j.result else None)
            for j, s in zip(self.chain(job), steps, strict=True)
        ]
        after = job.id if waiting is not None else None
        view = LadderView(root.id, _base(steps), rungs, done, waiting, after, stopped_by)
        blocks, text = ladder_blocks(view), ladder_text(view)
        client = self.dispatcher.deliveries.client
        try:
            if ladder.message_ts:
                client.chat_update(
                    channel=ladder.channel_id, ts=ladder.message_ts, blocks=blocks, text=text
                )
                return
            sent = client.chat_postMessage(
                channel=ladder.channel_id, thread_ts=ladder.thread_ts, blocks=blocks, text=text,
                unfurl_links=False,
            )  # fmt: skip
            self.db.set_ladder_message(root.id, str(sent["ts"]))
        except Exception:  # Slack away: the next rung's update shows it all again
            log.exception("could not show the ladder of job %s", root.id)


def _base(steps: list[Step]) -> JobSpec:
    return steps[0].spec.model_copy(update={"playbook": "smoke", "fallback": None})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_ladder_listeners(app: App, dispatcher: Dispatcher) -> None:
    """*Run rung N* and *Stop here* under a ladder that waits for approval."""

    def clicked(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        action = body["actions"][0]
        after = int(json.loads(action["value"])["after"])
        user, channel = body["user"]["id"], (body.get("channel") or {}).get("id")
        run = action["action_id"] == RUN_ACTION
        dispatcher.deliveries.soon(lambda: _answer(dispatcher, after, run, user, channel))

    app.action(RUN_ACTION)(clicked)
    app.action(STOP_ACTION)(clicked)


def _answer(dispatcher: Dispatcher, after: int, run: bool, user: str, channel: str | None) -> None:
    """A click, after the ack: dispatch or stop, and tell the clicker what stood in the way."""
    job = dispatcher.store.job(after)
    if job is None:
        return
    ladders = Ladders(dispatcher, dispatcher.settings)
    said = (ladders.approve if run else ladders.stop)(job, user, channel)
    if said and channel:
        dispatcher.deliveries.call("chat_postEphemeral", channel=channel, user=user, text=said)
