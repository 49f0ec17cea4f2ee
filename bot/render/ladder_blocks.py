"""The autopilot's one ladder message: each rung with its config (what changed from the
asked-for launch), status, phase reached, first error, runbook match and time; while a
relaunch waits for approval, the exact command and the buttons; at the end, the best
working config as a copyable command, what each change bought, and what was ruled out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.run_layout import runbook_part
from bot.render.blocks import button, code, context, cut, escape, header, limit, section
from bot.render.mrkdwn import mention
from runners import Done, JobSpec, Rung, RunResult, dummy_weights, ladder_command, redact

Block = dict[str, Any]
RUN_ACTION = "autopilot_run"
STOP_ACTION = "autopilot_stop"
_ERROR_CHARS = 300


@dataclass(frozen=True)
class RungView:
    """One rung as the ladder shows it: the job, and how far it got."""

    job_id: int
    spec: JobSpec
    why: str
    status: str  # the job's: queued | running | passed | failed | ...
    result: RunResult | None


@dataclass(frozen=True)
class LadderView:
    root_job_id: int
    base: JobSpec  # the launch as asked: each rung's config is what changed from it
    rungs: Sequence[RungView]
    done: Done | None = None
    waiting: Rung | None = None  # the next rung, waiting for a click
    waiting_after: int | None = None  # the job whose verdict it follows
    stopped_by: str | None = None  # the Slack user who clicked Stop here


def changes(base: JobSpec, spec: JobSpec) -> str:
    """What this rung launches differently from the asked-for config, as flags and env."""
    _, base_env, _ = ladder_command(base)
    argv, env, _ = ladder_command(spec)
    was = set(_items(ladder_command(base)[0][3:]))
    added = [f"{k}={v}" for k, v in sorted(env.items()) if base_env.get(k) != v]
    added += [item for item in _items(argv[3:]) if item not in was]
    return " ".join(added) or "as asked"


def _items(args: Sequence[str]) -> list[str]:
    """`--flag value` pairs and lone flags, as they read."""
    out: list[str] = []
    for word in args:
        if word.startswith("-") or not out:
            out.append(word)
        else:
            out[-1] += f" {word}"
    return out


def ladder_text(view: LadderView) -> str:
    """The notification text: the state in one line."""
    model = view.base.model
    if view.done is not None:
        return f"Autopilot {view.done.outcome}: {model}"
    if view.waiting is not None:
        return f"Autopilot for {model}: rung {len(view.rungs) + 1} waits for approval"
    return f"Autopilot for {model}: rung {len(view.rungs)} of the ladder"


def ladder_blocks(view: LadderView) -> list[Block]:
    done, model = view.done, view.base.model
    state = "CLIMBING" if done is None else done.outcome.upper().replace("_", " ")
    state = "WAITING FOR APPROVAL" if view.waiting is not None else state
    blocks = [header(f"AUTOPILOT {state}: {model}")]
    if done is not None:
        by = f" (by {mention(view.stopped_by)})" if view.stopped_by else ""
        blocks.append(section(escape(done.why) + by))
    for n, rung in enumerate(view.rungs, 1):
        blocks.append(section(_rung(n, rung, view.base)))
    if view.waiting is not None and view.waiting_after is not None:
        blocks += _approval(view, view.waiting, view.waiting_after)
    if done is not None:
        blocks += _summary(view, done)
    return limit(blocks)


def _rung(n: int, rung: RungView, base: JobSpec) -> str:
    result = rung.result
    weights = " · dummy weights" if dummy_weights(rung.spec) else ""
    facts = [rung.status]
    if result is not None:
        stage = f" ({result.stage})" if result.stage and result.status != "passed" else ""
        facts.append(f"phase {result.phase}{stage}")
        spent = sum(result.timings.values()) if result.timings else None
        if spent:
            facts.append(f"{spent:.1f} s")
    head = f"*{n}. `{escape(changes(base, rung.spec))}`*{weights} — {escape(', '.join(facts))}"
    lines = [head]
    if rung.why:
        lines.append(f"_why:_ {escape(cut(rung.why, 300))}")
    if result is not None and result.verdict:
        lines.append(escape(cut(redact(result.verdict), 300)))
    if result is not None and result.first_error and result.status != "passed":
        signature = cut(redact(result.first_error.signature), _ERROR_CHARS)
        quoted = escape(signature).replace("`", "'")  # a backtick would end the code span
        lines.append(f"first error: `{quoted}`")
    match = runbook_part(result.triage) if result is not None else None
    if match is not None and result is not None and result.status != "passed":
        lines.append(f"{escape(match.title)} ({escape(match.text)})")
    return "\n".join(lines)


def _approval(view: LadderView, nxt: Rung, after: int) -> list[Block]:
    _, _, line = ladder_command(nxt.spec)
    n = len(view.rungs) + 1
    value = json.dumps({"ladder": view.root_job_id, "after": after})
    run = button(f"Run rung {n}", RUN_ACTION, value, "primary")
    run["confirm"] = {  # the exact command, once more, before it runs
        "title": {"type": "plain_text", "text": f"Run rung {n}?"},
        "text": {"type": "plain_text", "text": cut(line, 290)},
        "confirm": {"type": "plain_text", "text": "Run it"},
        "deny": {"type": "plain_text", "text": "Not yet"},
    }
    stop = button("Stop here", STOP_ACTION, value, "danger")
    weights = " (dummy weights)" if dummy_weights(nxt.spec) else ""
    text = f"*Rung {n} waits for approval*{weights}: {escape(nxt.why)}\n" + code([line])
    return [section(text), {"type": "actions", "elements": [run, stop]}]


def _summary(view: LadderView, done: Done) -> list[Block]:
    blocks: list[Block] = []
    if done.outcome == "works" and done.best is not None:
        _, _, line = ladder_command(done.best.spec)  # `vllm` as the host's operator names it
        blocks.append(section("*Working config*\n" + code([line])))
    bought = [
        f"`{escape(changes(view.base, r.spec))}`{_on_dummy(r.spec)}: "
        + escape(redact(r.result.verdict if r.result else r.status))
        for r in view.rungs[1:]
    ]
    if bought:
        blocks.append(section("*What each change bought*\n" + "\n".join(bought)))
    cheap = [str(n) for n, r in enumerate(view.rungs, 1) if dummy_weights(r.spec)]
    if cheap and not dummy_weights(view.base):
        confirm = {True: "passed", False: "failed", None: "not run"}[done.confirmed]
        blocks.append(
            context(
                f"Rung(s) {', '.join(cheap)} ran on dummy weights (`--load-format dummy`); "
                f"the confirm on the real weights: {confirm}."
            )
        )
    last = view.rungs[-1].result if view.rungs else None
    match = runbook_part(last.triage) if last is not None else None
    if done.outcome != "works" and match is not None:
        actions = "\n".join(f"{n}. {escape(a)}" for n, a in enumerate(match.lines[:4], 1))
        blocks.append(section(f"*{escape(match.title)}* ({escape(match.text)})\n{actions}"))
    if done.ruled_out:
        blocks.append(context(escape("ruled out: " + "; ".join(done.ruled_out))[:2900]))
    return blocks


def _on_dummy(spec: JobSpec) -> str:
    return " (dummy weights)" if dummy_weights(spec) else ""
