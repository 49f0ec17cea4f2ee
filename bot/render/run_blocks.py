"""Runner jobs as Block Kit: the status message updated in place, the verdict in its
thread with the next step's buttons, the agents list, and the dispatch form."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core.run_layout import RunPart, job_parts
from bot.render.blocks import (
    RUN_FORM_ACTION,
    Block,
    button,
    code,
    context,
    cut,
    escape,
    header,
    limit,
    section,
)
from bot.render.mrkdwn import mention
from runners import (
    FALLBACKS,
    PLAYBOOKS,
    Agent,
    Job,
    Phase,
    RunTriage,
    Status,
    next_value,
    redact,
)

RUN_ACTION = "run_next"  # value: {"job": id, "next": "eager" | "fallback:NAME[=N]" | "smoke"}
CANCEL_ACTION = "run_cancel"  # value: job id
FORM_ACTION = RUN_FORM_ACTION  # value: the triage answer id; opens DISPATCH_CALLBACK
DISPATCH_CALLBACK = "run_dispatch"

STEPS = ("queued", "preflight", "starting", "ready", "text smoke", "image smoke")
MARK = {
    Status.PASSED: ":white_check_mark:",
    Status.FAILED: ":x:",
    Status.TIMEOUT: ":hourglass:",
    Status.CANCELLED: ":no_entry_sign:",
    Status.BLOCKED: ":construction:",
    Status.LOST: ":ghost:",
}
_PHASES = frozenset(p.value for p in Phase)


def _phase(value: str) -> str:
    """A phase as shown: an agent reports it as free text, so only the enum's words pass."""
    return value if value in _PHASES else "unknown phase"


def _steps(job: Job) -> str:
    steps = [s for s in STEPS if s != "image smoke" or job.spec.vl]
    reached = job.reached
    current = steps.index(reached) if reached in steps else (0 if job.phase == "queued" else -1)
    if job.phase in ("stopping", "cleanup", "done") and not job.result:
        current = len(steps)  # stopping: everything before was passed
    shown = []
    for i, step in enumerate(steps):
        label = step
        if step == "starting" and i == current and job.stage:
            label = f"starting: {job.stage}"
        if i < current:
            shown.append(f":white_check_mark: {label}")
        elif i == current and not job.status.final:
            shown.append(f":arrows_counterclockwise: *{escape(label)}*")
        elif i == current:
            shown.append(f"{MARK.get(job.status, ':x:')} {escape(label)}")
        else:
            shown.append(f":white_small_square: {label}")
    verdict = MARK[job.status] + f" *{job.status.value}*" if job.status.final else "verdict"
    return "  ".join(shown) + f"  →  {verdict}"


def status_blocks(job: Job) -> list[Block]:
    """The one status message of a job, as it stands now."""
    who = f" · asked by {mention(job.requested_by)}" if job.requested_by else ""
    where = f" · on `{escape(job.agent)}`" if job.agent else " · waiting for an agent"
    blocks = [
        section(f"*Job {job.id}* `{escape(job.spec.describe())}`{where}{who}"),
        section(_steps(job)),
    ]
    if job.status is Status.LOST:
        blocks.append(
            section(
                ":ghost: The agent stopped heartbeating: this job is *lost*. "
                "Its host may have crashed or lost the network; see `/runners`."
            )
        )
    tail = [ln for ln in job.log_tail if ln.strip()][-1:]
    if tail and not job.status.final:
        blocks.append(context(escape(cut(redact(tail[0]), 300))))
    if not job.status.final:
        if job.cancel_requested:
            blocks.append(context("Cancel requested: stopping the server on its host..."))
        else:
            blocks.append(
                {
                    "type": "actions",
                    "elements": [button("Cancel", CANCEL_ACTION, str(job.id), "danger")],
                }
            )
    return limit(blocks)


def status_text(job: Job) -> str:
    spec = job.spec
    what = escape(f"{spec.playbook} {spec.model}")
    return f"Job {job.id} {what}: {job.status.value} ({_phase(job.reached)})"


def _part_blocks(part: RunPart, job_id: int) -> list[Block]:
    if part.kind == "head":
        mark = MARK.get(part.status, "") if part.status else ""
        return [section(f"{mark} {escape(part.text)}")]
    if part.kind == "facts":
        return [context(*(escape(line) for line in part.lines))]
    if part.kind in ("first_error", "doctor", "answers", "comparison", "log"):
        body = "\n" + code(list(part.lines)) if part.lines else ""
        return [section(f"*{escape(part.title)}*{body}")]
    if part.kind == "checks":
        return [section(code(list(part.lines)))]
    if part.kind in ("findings", "notes"):
        return [context(escape(line)) for line in part.lines]
    if part.kind == "runbook":  # an agent's own triage is its word, not ours: escaped too
        actions = "\n".join(f"{n}. {escape(a)}" for n, a in enumerate(part.lines[:4], 1))
        return [section(f"*{escape(part.title)}* ({escape(part.text)})\n{actions}")]
    if part.kind == "environment":
        return [context(escape(part.text))]
    if part.kind == "cleanup":
        return [section(f":warning: {escape(part.text)}")]
    buttons = [  # the next step: its reason, and a button per step (the first recommended)
        button(words, RUN_ACTION, next_value(job_id, step), "primary" if i == 0 else None)
        for i, (step, words) in enumerate(zip(part.steps[:4], part.lines, strict=False))
    ]
    return [
        section(f"*{escape(part.title)}:* {escape(part.text)}"),
        {"type": "actions", "elements": buttons},
    ]


def verdict_blocks(job: Job, triage: RunTriage | None) -> list[Block]:
    """The verdict, posted once in the job's thread: the parts of `job_parts`, then the
    next step's buttons (and *Find a working config* under a failure a person ran)."""
    blocks = [header(f"{job.status.value.upper()}: {job.spec.playbook} {job.spec.model}")]
    for part in job_parts(job, triage):
        blocks += _part_blocks(part, job.id)
    if (ladder := _ladder_button(job)) is not None:
        nxt = next((b for b in blocks if b["type"] == "actions"), None)
        if nxt is None:
            blocks.append({"type": "actions", "elements": [ladder]})
        else:
            nxt["elements"].append(ladder)
    return limit(blocks)


def _ladder_button(job: Job) -> Block | None:
    """*Find a working config* under a failure a person ran: the autopilot from here on
    (an autopilot rung climbs by itself)."""
    if job.spec.autopilot or job.spec.playbook == "doctor":
        return None
    if job.status not in (Status.FAILED, Status.TIMEOUT):
        return None
    return button("Find a working config", RUN_ACTION, next_value(job.id, "autopilot"))


def agents_blocks(rows: Sequence[tuple[Agent, Job | None]], lease_s: float) -> list[Block]:
    if not rows:
        return [
            section(
                "No agents yet. On an Ascend host: `ascend-oncall coordinator add-agent NAME` "
                "here, then `ascend-oncall runner --server URL --token TOKEN` there."
            )
        ]
    now = datetime.now(UTC)
    lines = []
    for agent, job in rows:
        seen = (now - agent.last_seen).total_seconds() if agent.last_seen else None
        health = (
            ":large_green_circle: online"
            if seen is not None and seen < 2 * lease_s
            else (
                f":red_circle: last seen {int(seen)} s ago"
                if seen is not None
                else ":white_circle: never connected"
            )
        )
        doing = (
            f"job {job.id} ({escape(job.spec.playbook)} {escape(job.spec.model)}, "
            f"{_phase(job.reached)})"
            if job
            else "idle"
        )
        labels = escape(", ".join(agent.labels)) or "no labels"
        host = escape(agent.hostname or "?")
        lines.append(f"*{escape(agent.name)}* ({host}) · {labels} · {health} · {doing}")
    return limit([section("*Runner agents*"), *[section(ln) for ln in lines]])


def dispatch_form(metadata: str, model: str = "") -> dict[str, Any]:
    """The modal a triage answer's "Run on a host" opens: playbook, model, args, host."""
    options = [{"text": {"type": "plain_text", "text": p}, "value": p} for p in PLAYBOOKS]
    fallbacks = [
        {"text": {"type": "plain_text", "text": cut(f.name, 75)}, "value": f.name}
        for f in FALLBACKS.values()
    ]

    def text_input(block: str, label: str, initial: str = "", optional: bool = True) -> Block:
        element: Block = {"type": "plain_text_input", "action_id": block}
        if initial:
            element["initial_value"] = initial[:3000]
        return {
            "type": "input",
            "block_id": block,
            "optional": optional,
            "label": {"type": "plain_text", "text": label},
            "element": element,
        }

    return {
        "type": "modal",
        "callback_id": DISPATCH_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Run on an Ascend host"},
        "submit": {"type": "plain_text", "text": "Dispatch"},
        "blocks": [
            {
                "type": "input",
                "block_id": "playbook",
                "label": {"type": "plain_text", "text": "Playbook"},
                "element": {
                    "type": "static_select",
                    "action_id": "playbook",
                    "options": options,
                    "initial_option": options[0],
                },
            },
            text_input(
                "model", "Model (org/name or a path under a model root)", model, optional=False
            ),
            {
                "type": "input",
                "block_id": "fallback",
                "optional": True,
                "label": {"type": "plain_text", "text": "Fallback (for the fallback playbook)"},
                "element": {"type": "static_select", "action_id": "fallback", "options": fallbacks},
            },
            text_input(
                "args", "Serve arguments and options (--vl, --tp 8, --env NAME=VALUE, on LABEL)"
            ),
        ],
    }
