"""The autopilot in Slack: `/autopilot` and the *Find a working config* button start a
ladder; each rung is a normal job (lease, heartbeat, verdict in the thread), and when a
rung's verdict is posted the next rung is chosen from the jobs' own chain in the store
(`runners.ladder.plan`), so a ladder survives a bot restart. It ends with one summary:
the best working config as a copyable command, or why no relaunch helps."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.render.blocks import code, context, header, limit, section
from bot.settings import Settings
from bot.slack.text import escape
from runners import Done, Job, JobSpec, Rung, RunResult, Status, Step, ladder_command, plan

if TYPE_CHECKING:
    from bot.slack.runs import Dispatcher

log = logging.getLogger(__name__)
_CHAIN = 64  # ancestors read at most: a ladder is a few rungs, a loop in the data is not
_ACTIVE = 200  # queued or running jobs looked through for a ladder already climbing


class Ladders:
    def __init__(self, dispatcher: Dispatcher, settings: Settings) -> None:
        self.dispatcher, self.settings = dispatcher, settings
        self.store = dispatcher.store

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

    def steps(self, job: Job) -> list[Step]:
        """The rungs that ran up to `job`, first first (the chain of parents)."""
        chain: list[Job] = []
        at: Job | None = job
        while at is not None and len(chain) < _CHAIN:
            chain.append(at)
            at = self.store.job(at.parent_id) if at.parent_id else None
        steps = []
        for rung in reversed(chain):
            result = rung.result or RunResult(
                playbook=rung.spec.playbook, status=rung.status.value, phase=rung.reached
            )
            steps.append(Step(rung.spec, "", result))
        return steps

    def next_rung(self, job: Job) -> Rung | Done:
        """What the ladder does after `job`: a rung to dispatch, or its end."""
        steps = self.steps(job)
        base = steps[0].spec.model_copy(update={"playbook": "smoke", "fallback": None})
        spent = (datetime.now(UTC) - _aware(self._root(job).created_at)).total_seconds()
        if spent > self.settings.autopilot_budget_s:
            why = f"the ladder's budget of {self.settings.autopilot_budget_s:.0f} s is spent"
            return Done("timeout", why, None, ())
        decision = plan(base, steps, self.settings.autopilot_steps)
        if isinstance(decision, Rung):
            spec = decision.spec.model_copy(update={"autopilot": True})
            return Rung(spec, decision.why)
        return decision

    def after_verdict(self, job: Job) -> None:
        """A rung's verdict was posted (once, by one replica): climb, or say where it ended."""
        if not job.spec.autopilot or job.channel_id is None:
            return
        decision = self.next_rung(job)
        if isinstance(decision, Rung):
            nxt, why = self.dispatcher.dispatch(
                decision.spec,
                user=job.requested_by or "",
                channel=job.channel_id,
                thread_ts=job.thread_ts or job.message_ts,
                team_id=job.team_id,
                source="autopilot",
                parent_id=job.id,
                request_key=f"autopilot:{job.id}",
            )
            if nxt is not None or "already dispatched" in why:
                return
            decision = Done("stopped", f"the next rung was refused: {why}", None, ())
        self._post_summary(job, decision)

    def _root(self, job: Job) -> Job:
        at, seen = job, 0
        while at.parent_id and seen < _CHAIN:
            parent = self.store.job(at.parent_id)
            if parent is None:
                break
            at, seen = parent, seen + 1
        return at

    def _post_summary(self, job: Job, done: Done) -> None:
        assert job.channel_id is not None
        steps = self.steps(job)
        blocks = summary_blocks(steps, done)
        try:
            self.dispatcher.jobs.client.chat_postMessage(
                channel=job.channel_id,
                thread_ts=job.thread_ts or job.message_ts,
                blocks=blocks,
                text=f"Autopilot: {done.outcome}",
                unfurl_links=False,
            )
        except Exception:  # Slack away: the rungs' verdicts are in the thread already
            log.exception("could not post the autopilot summary of job %s", job.id)


def summary_blocks(steps: list[Step], done: Done) -> list[dict[str, Any]]:
    """The ladder's end: each rung and how it ended, the config to keep, what was ruled out."""
    model = steps[0].spec.model if steps else ""
    blocks = [header(f"AUTOPILOT {done.outcome.upper().replace('_', ' ')}: {model}")]
    blocks.append(section(escape(done.why)))
    rows = [
        f"{n}. {_name(s.spec)}: {s.result.status} ({s.result.verdict})"
        for n, s in enumerate(steps, 1)
    ]
    blocks.append(section("*Rungs*\n" + code(rows)))
    if done.outcome == "works" and done.best is not None:
        _, _, line = ladder_command(done.best.spec)  # `vllm` as the host's operator names it
        blocks.append(section("*Working config*\n" + code([line])))
    elif steps and (last := steps[-1].result).triage and (top := last.triage.top):
        actions = "\n".join(f"{n}. {escape(a)}" for n, a in enumerate(top.actions[:4], 1))
        blocks.append(section(f"*Runbook: {escape(top.title)}*\n{actions}"))
    if done.ruled_out:
        blocks.append(context(escape("ruled out: " + "; ".join(done.ruled_out))[:2900]))
    return limit(blocks)


def _name(spec: JobSpec) -> str:
    return f"fallback {spec.fallback}" if spec.playbook == "fallback" else spec.playbook


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
