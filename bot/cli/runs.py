"""`ascend-oncall run`: one playbook on this host, with no Slack and no coordinator."""

from __future__ import annotations

import json
import shlex
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from bot.cli.common import Runbook, err, fail, load_settings, out
from bot.core.run_layout import run_parts
from bot.render.run_text import verdict_lines
from bot.settings import Settings
from runners import (
    PLAYBOOKS,
    Event,
    FileBook,
    JobSpec,
    RunResult,
    SpecError,
    check_spec,
    redact_data,
    run_playbook,
    settle_replies,
)

EXIT = {"passed": 0, "failed": 1, "timeout": 1, "cancelled": 130, "blocked": 3}


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq:
            raise SpecError(f"--env takes NAME=VALUE, not `{pair}`")
        env[name] = value
    return env


def run_command(
    ctx: typer.Context,
    playbook: Annotated[
        str,
        typer.Argument(
            help="smoke, eager, fallback, or autopilot (the ladder until a config works).",
            autocompletion=lambda: [*PLAYBOOKS, "autopilot"],
        ),
    ],
    model: Annotated[str, typer.Option(help="Model name (org/name) or path under a model root.")],
    vl: Annotated[
        bool, typer.Option("--vl", help="A vision-language model: smoke an image too.")
    ] = False,
    fallback: Annotated[
        str | None,
        typer.Option(
            help="For fallback: torchdynamo-disable, hccl-aiv, max-model-len=N, text-only."
        ),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="NAME=VALUE for the server (allow-listed).")
    ] = None,
    vllm_cmd: Annotated[
        str | None,
        typer.Option(help="The command that stands for `vllm` (default ONCALL_VLLM_CMD, vllm)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Server port (0: any free one; default 8000).")
    ] = None,
    model_root: Annotated[
        list[str] | None,
        typer.Option("--model-root", metavar="DIR", help="A folder model paths may be under."),
    ] = None,
    startup_budget: Annotated[
        float | None, typer.Option(help="Seconds to become ready (default 1800).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
    allow_remote_code: Annotated[
        bool,
        typer.Option(
            "--allow-remote-code",
            help="Let the run pass --trust-remote-code (the model repo's Python runs here).",
        ),
    ] = False,
    no_doctor: Annotated[
        bool,
        typer.Option(
            "--no-doctor",
            help="Launch a model folder without examining it first (see `doctor`).",
        ),
    ] = False,
    probe_max_len: Annotated[
        bool,
        typer.Option(
            "--probe-max-len",
            help="autopilot: also find the longest --max-model-len that starts and answers.",
        ),
    ] = False,
    record_golden: Annotated[
        bool,
        typer.Option(
            "--record-golden",
            help="A passing run's deterministic replies become the model's known-good ones.",
        ),
    ] = False,
) -> None:
    """Run one playbook here: launch the server, wait for ready, smoke it, stop, judge.
    Extra serve arguments go after `--`."""

    settings: Settings = load_settings()
    ladder = playbook == "autopilot"  # the ladder of smoke, eager and fallbacks
    if ladder:
        playbook = "smoke"
    if playbook not in PLAYBOOKS:
        choices = ", ".join([*PLAYBOOKS, "autopilot"])
        raise fail(f"playbook must be one of {choices}, not {playbook}", 2)
    overrides: dict[str, Any] = {
        "vllm_cmd": tuple(shlex.split(vllm_cmd)) if vllm_cmd else None,
        "port": port,
        "model_roots": tuple(model_root) if model_root else None,
        # Only the flag: ONCALL_ALLOW_REMOTE_CODE is the bot's key, and may share this .env.
        "remote_code": allow_remote_code,
    }
    config = settings.runner_config(**overrides)
    if startup_budget is not None:
        from dataclasses import replace

        config = replace(config, budgets=replace(config.budgets, startup_s=startup_budget))
    try:
        spec = check_spec(
            JobSpec(
                playbook=playbook,
                model=model,
                vl=vl,
                fallback=fallback,
                args=tuple(ctx.args),
                env=_env_pairs(env or []),
                no_doctor=no_doctor,
                probe_max_len=probe_max_len,
                record_golden=record_golden,
            ),
            config.model_roots,
            remote_code=config.remote_code,
        )
    except SpecError as exc:
        raise fail(str(exc), 2) from exc

    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: cancel.set())  # stop the server, then report
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())

    def show(event: Event) -> None:
        if not as_json:
            words = event.stage or event.message or ""
            if event.kind == "progress":
                words = f"{event.stage} {event.message}"
            err.print(Text(f"[{event.phase}] {words}".rstrip()), soft_wrap=True)

    if ladder:
        from bot.cli.autopilot import autopilot

        autopilot(spec, config, settings, as_json, cancel)
    result = run_playbook(spec, config, show, cancel)
    # Beside the known-good and the other mode's replies, kept under the work folder.
    result = settle_replies(result, spec, FileBook.under(config.work_dir))
    result.triage = Runbook(settings).triage_run(result, quiet=as_json)
    if as_json:
        print(json.dumps(result_json(result)))
    else:
        _print(result)
    raise typer.Exit(EXIT.get(result.status, 1))


def result_json(result: RunResult) -> dict[str, object]:
    """The run object (the design's fields first, then the rest), secrets redacted."""
    cleaned: dict[str, object] = redact_data(result.model_dump(mode="json", exclude={"spec"}))
    return cleaned


def _print(result: RunResult) -> None:
    """The verdict as `jobs show` and Slack give it, then where the log is."""
    # Paths and error lines are copied from here: never hard-wrapped, whatever the width.
    for line in verdict_lines(run_parts(result)):
        out.print(line, soft_wrap=True)
    if result.log_path and Path(result.log_path).is_file():  # nothing launched: no log
        out.print(Text(f"log: {result.log_path}"), soft_wrap=True)
