"""`ascend-oncall run autopilot`: the ladder on this host, printed live, ending with the
best working config as a copyable command, or an honest "no relaunch helps"."""

from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

import typer
from rich.text import Text

from bot.cli.common import err, out
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

    @lru_cache(maxsize=1)
    def triager() -> Any:
        from kb import load

        return load(settings.kb_config())

    def triage(text: str, **kw: Any) -> Any:
        return triager().triage(text, **kw)

    def started(n: int, rung: Rung) -> None:
        if not as_json:
            err.print(Text(f"rung {n}: {_name(rung.spec)} ({rung.why})"), soft_wrap=True)

    def ended(n: int, step: Step) -> None:
        if not as_json:
            shown = f"rung {n}: {step.result.status.upper()}  {step.result.verdict}"
            err.print(Text(shown), soft_wrap=True)

    ladder = run_ladder(
        base, config, triage, max_steps=settings.autopilot_steps,
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
        match = result.triage.top if result.triage else None
        entry = f"  [runbook: {match.title}]" if match and result.status != "passed" else ""
        lines.append(f"  {n}. {_name(step.spec)}: {result.status} ({result.verdict}){entry}")
    cheap = [str(n) for n, s in enumerate(ladder.steps, 1) if dummy_weights(s.spec)]
    if cheap:
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
        if ladder.steps and (top := _top(ladder.steps[-1])):
            lines.append(f"runbook: {top[0]}")
            lines += [f"  {i}. {a}" for i, a in enumerate(top[1], 1)]
    return lines


def _top(step: Step) -> tuple[str, list[str]] | None:
    match = step.result.triage.top if step.result.triage else None
    return (match.title, match.actions) if match else None


def _name(spec: JobSpec) -> str:
    name = f"fallback {spec.fallback}" if spec.playbook == "fallback" else spec.playbook
    return name + (" on dummy weights" if dummy_weights(spec) else "")
