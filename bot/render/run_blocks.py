"""Runner jobs as Block Kit: the status message updated in place, the verdict in its
thread with the next step's buttons, the agents list, and the dispatch form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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
from bot.render.run_answers import (
    answers_heading,
    check_table,
    comparison_lines,
    finding_lines,
    reply_lines,
)
from bot.render.run_doctor import doctor_heading, doctor_lines
from runners import (
    FALLBACKS,
    PLAYBOOKS,
    Agent,
    Job,
    JobSpec,
    NextStep,
    Phase,
    RunResult,
    RunTriage,
    Status,
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
LOG_LINES = 15
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


def next_value(job_id: int, step: str) -> str:
    return json.dumps({"job": job_id, "next": step})


def _step_words(step: str) -> str:
    if step == "eager":
        return "Run eager isolation"
    if step.startswith("fallback:"):
        return f"Run fallback {step.split(':', 1)[1]}"
    return f"Run {step} again"


def next_steps(nxt: NextStep | None) -> list[str]:
    if nxt is None:
        return []
    first = f"fallback:{nxt.fallback}" if nxt.playbook == "fallback" else nxt.playbook
    more = [a if a == "eager" else f"fallback:{a}" for a in nxt.alternatives]
    return [first, *[m for m in more if m != first]]


def verdict_blocks(job: Job, triage: RunTriage | None) -> list[Block]:
    """The verdict, posted once in the job's thread."""
    result = job.result or RunResult(
        playbook=job.spec.playbook, status=job.status.value, phase=job.reached
    )
    blocks: list[Block] = [
        header(f"{job.status.value.upper()}: {job.spec.playbook} {job.spec.model}")
    ]
    verdict = result.verdict or (
        "the agent stopped heartbeating" if job.status is Status.LOST else ""
    )
    blocks.append(section(f"{MARK.get(job.status, '')} {escape(verdict)}"))
    facts = []
    if result.ready_s is not None:
        facts.append(f"ready after {result.ready_s:.1f} s")
    timings = ", ".join(f"{escape(k)} {v:.1f} s" for k, v in result.timings.items() if v >= 0.05)
    if timings:
        facts.append(f"time per phase: {timings}")
    if result.evidence:
        facts.append(
            "evidence: "
            + "; ".join(f"{escape(k)}: `{escape(v)}`" for k, v in result.evidence.items())
        )
    if facts:
        blocks.append(context(*facts))
    if result.first_error:
        blocks.append(section("*First error*\n" + code([redact(result.first_error.signature)])))
    if heading := doctor_heading(result):
        lines = [redact(ln) for ln in doctor_lines(result)]
        blocks.append(section(f"*{escape(heading)}*" + ("\n" + code(lines) if lines else "")))
    blocks += _answers(result)
    if triage and (top := triage.top):
        actions = "\n".join(f"{n}. {escape(a)}" for n, a in enumerate(top.actions[:4], 1))
        blocks.append(  # an agent's own triage is its word, not ours: escaped like the rest
            section(
                f"*{triage.heading}: {escape(top.title)}* ({escape(top.confidence)}, "
                f"entry `{escape(top.entry_id)}`)\n{actions}"
            )
        )
    env = _environment(result.environment)
    if env:
        blocks.append(context(env))
    if result.cleanup and result.cleanup != "clean":
        blocks.append(section(f":warning: Host not clean after the run: {escape(result.cleanup)}"))
    for note in result.notes[:5]:
        blocks.append(context(escape(redact(note))))
    tail = [redact(ln) for ln in (result.log_tail or list(job.log_tail))][-LOG_LINES:]
    if tail and job.status is not Status.PASSED:
        blocks.append(section("*Log tail*\n" + code(tail)))
    steps = next_steps(result.next)
    ladder = _ladder_button(job)
    if ladder and not steps:
        blocks.append({"type": "actions", "elements": [ladder]})
    if steps and result.next is not None:
        blocks.append(section(f"*Next:* {escape(result.next.reason)}"))
        buttons = [
            button(_step_words(s), RUN_ACTION, next_value(job.id, s), "primary" if i == 0 else None)
            for i, s in enumerate(steps[:4])
        ]
        buttons += [ladder] if ladder else []
        blocks.append({"type": "actions", "elements": buttons})
    return limit(blocks)


def _ladder_button(job: Job) -> Block | None:
    """*Find a working config* under a failure a person ran: the autopilot from here on
    (an autopilot rung climbs by itself)."""
    if job.spec.autopilot or job.spec.playbook == "doctor":
        return None
    if job.status not in (Status.FAILED, Status.TIMEOUT):
        return None
    return button("Find a working config", RUN_ACTION, next_value(job.id, "autopilot"))


def _answers(result: RunResult) -> list[Block]:
    """The probes' prompts and replies in a code block (cut with a note), the answer
    checks as a small table, and the findings (template mismatch, no chat template)."""
    heading = answers_heading(result)
    if heading is None:
        return []
    blocks = [section(f"*{escape(heading)}*\n" + code([redact(ln) for ln in reply_lines(result)]))]
    blocks.append(section(code(check_table(result))))
    blocks += [context(escape(redact(f))) for f in finding_lines(result)]
    for headline, lines in comparison_lines(result):  # known-good, graph vs eager
        body = f"*{escape(redact(headline))}*"
        blocks.append(section(body + ("\n" + code([redact(ln) for ln in lines]) if lines else "")))
    return blocks


def _environment(env: dict[str, Any]) -> str:
    parts = []
    for name, info in (env.get("packages") or {}).items():
        if info.get("version"):
            where = f" (`{escape(str(info['path']))}`)" if info.get("path") else ""
            parts.append(f"{escape(str(name))} {escape(str(info['version']))}{where}")
    if env.get("vllm_cmd_version"):
        parts.append(f"server `{escape(str(env['vllm_cmd_version']))}`")
    if env.get("host"):
        parts.append(f"host {escape(str(env['host']))}")
    npu = (env.get("npu") or "").splitlines()
    if npu:
        parts.append("NPU: " + escape(" ".join(npu[:3])[:200]))
    return " · ".join(parts)


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


def form_values(view: dict[str, Any]) -> tuple[str, str]:
    """(playbook, command text) from a submitted dispatch form, in /smoke's own syntax."""
    state = view["state"]["values"]
    playbook = state["playbook"]["playbook"]["selected_option"]["value"]
    model = (state["model"]["model"].get("value") or "").strip()
    args = (state["args"]["args"].get("value") or "").strip()
    chosen = state["fallback"]["fallback"].get("selected_option")
    words = [chosen["value"]] if playbook == "fallback" and chosen else []
    return playbook, " ".join([*words, model, args]).strip()


def spec_for(parent: JobSpec, step: str) -> JobSpec:
    """The job a next-step button asks for: the parent's model, args and host."""
    if step.startswith("fallback:"):
        fallback = step.split(":", 1)[1]
        return parent.model_copy(
            update={"playbook": "fallback", "fallback": fallback, "record_golden": False}
        )
    if step == "eager":  # another config: its replies are not what was asked to be recorded
        return parent.model_copy(
            update={"playbook": "eager", "fallback": None, "record_golden": False}
        )
    return parent
