"""`ascend-oncall run autopilot`: the ladder on this host, printed live, ending with the
best working config as a copyable command, or an honest "no relaunch helps"."""

from __future__ import annotations

import json
import threading

import typer
from rich.text import Text

from bot.cli.common import Runbook, err, out
from bot.core.run_layout import plain, runbook_part
from bot.settings import Settings
from runners import (
    Done,
    FileBook,
    JobSpec,
    Ladder,
    Rung,
    RunnerConfig,
    Step,
    dummy_weights,
    ladder_command,
    longest_length,
    redact_data,
    run_ladder,
)

# Exit codes: 0 a config works, 1 none does (or the ladder was stopped), 130 cancelled.
_EXIT = {"works": 0, "no_config": 1, "stopped": 1, "timeout": 1, "cancelled": 130}


def autopilot(
    base: JobSpec,
    config: RunnerConfig,
    settings: Settings,
    as_json: bool,
    cancel: threading.Event,
) -> None:
    """Climb the ladder here and say where it ended."""

    def started(n: int, rung: Rung) -> None:
        if not as_json:
            err.print(Text(f"rung {n}: {_name(rung.spec)} ({rung.why})"), soft_wrap=True)

    def ended(n: int, step: Step) -> None:
        if not as_json:
            shown = f"rung {n}: {step.result.status.upper()}  {step.result.verdict}"
            err.print(Text(shown), soft_wrap=True)

    ladder = run_ladder(
        base, config, Runbook(settings).triage, max_steps=settings.autopilot_steps,
        budget_s=settings.autopilot_budget_s, on_rung=started, on_done=ended, cancel=cancel,
        book=FileBook.under(config.work_dir),
    )  # fmt: skip
    vllm = config.vllm_cmd or ("vllm",)
    if as_json:
        print(json.dumps(ladder_json(ladder, vllm)))
    else:
        for line in summary(ladder, vllm):
            out.print(Text(line), soft_wrap=True)
    raise typer.Exit(_EXIT[ladder.done.outcome])


def ladder_json(ladder: Ladder, vllm: tuple[str, ...] = ("vllm",)) -> dict[str, object]:
    done = ladder.done
    works = None
    if done.outcome == "works" and done.best is not None:
        argv, env, line = ladder_command(done.best.spec, vllm)
        works = {"argv": argv, "env": env, "command": line}
    steps = [
        {
            **s.result.model_dump(mode="json", exclude={"spec"}),
            "why": s.why,
            "dummy_weights": dummy_weights(s.spec),
        }
        for s in ladder.steps
    ]
    probed = ladder.steps[0].spec.probe_max_len if ladder.steps else False
    longest = longest_length(ladder.steps) if probed and done.outcome == "works" else None
    body = {
        "max_model_len": longest[0] if longest else None,
        # What the KV cache got at that length: "Available KV cache memory: 0.5 GiB; ..."
        "kv_cache": longest[1].result.evidence.get("kv_cache") if longest else None,
        "status": done.outcome,
        "why": done.why,
        "steps": steps,
        "works": works,
        "ruled_out": list(done.ruled_out),
        "confirmed": done.confirmed,
    }
    cleaned: dict[str, object] = redact_data(body)
    return cleaned


def summary(ladder: Ladder, vllm: tuple[str, ...] = ("vllm",)) -> list[str]:
    """The ladder in words: each rung, what it bought, and the config to keep."""
    done: Done = ladder.done
    lines = [f"autopilot: {done.outcome.upper()}  {done.why}"]
    for n, step in enumerate(ladder.steps, 1):
        result = step.result
        match = runbook_part(result.triage) if result.status != "passed" else None
        entry = f"  [{match.title} ({plain(match.text)})]" if match else ""
        lines.append(f"  {n}. {_name(step.spec)}: {result.status} ({result.verdict}){entry}")
    cheap = [str(n) for n, s in enumerate(ladder.steps, 1) if dummy_weights(s.spec)]
    if ladder.steps and dummy_weights(ladder.steps[0].spec):  # the first rung runs as asked
        lines.append("dummy weights: every rung, as asked (--load-format dummy): no confirm")
    elif cheap:
        confirm = {True: "passed", False: "failed", None: "not run"}[done.confirmed]
        lines.append(
            f"dummy weights: rung(s) {', '.join(cheap)}; confirm on the real weights: {confirm}"
        )
    if done.outcome == "works" and done.best is not None:
        _, _, line = ladder_command(done.best.spec, vllm)
        lines += ["working config:", f"  {line}"]
    elif done.ruled_out:
        first = ladder.steps[0].result.first_error if ladder.steps else None
        if first is not None:
            lines.append(f"first error: {first.signature}")
        if ladder.steps and (match := runbook_part(ladder.steps[-1].result.triage)):
            lines.append(f"{match.title} ({plain(match.text)})")
            lines += [f"  {i}. {a}" for i, a in enumerate(match.lines, 1)]
    return lines


def _name(spec: JobSpec) -> str:
    name = f"fallback {spec.fallback}" if spec.playbook == "fallback" else spec.playbook
    return name + (" on dummy weights" if dummy_weights(spec) else "")
