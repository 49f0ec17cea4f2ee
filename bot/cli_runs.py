"""`ascend-oncall run`: one playbook on this host, with no Slack and no coordinator."""

from __future__ import annotations

import json
import shlex
import signal
import threading
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from bot.settings import Settings
from runners import PLAYBOOKS, Event, JobSpec, RunResult, SpecError, redact, run_playbook
from runners.spec import check

out = Console()
err = Console(stderr=True)

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
    playbook: Annotated[str, typer.Argument(help="smoke, eager or fallback.")],
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
        list[str] | None, typer.Option("--model-root", help="A folder model paths may be under.")
    ] = None,
    startup_budget: Annotated[
        float | None, typer.Option(help="Seconds to become ready (default 1800).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
) -> None:
    """Run one playbook here: launch the server, wait for ready, smoke it, stop, judge.
    Extra serve arguments go after `--`."""
    from bot.cli import _fail, _settings

    settings: Settings = _settings()
    if playbook not in PLAYBOOKS:
        raise _fail(f"playbook must be one of {', '.join(PLAYBOOKS)}, not {playbook}", 2)
    overrides: dict[str, Any] = {
        "vllm_cmd": tuple(shlex.split(vllm_cmd)) if vllm_cmd else None,
        "port": port,
        "model_roots": tuple(model_root) if model_root else None,
    }
    config = settings.runner_config(**overrides)
    if startup_budget is not None:
        from dataclasses import replace

        config = replace(config, budgets=replace(config.budgets, startup_s=startup_budget))
    try:
        spec = check(
            JobSpec(
                playbook=playbook,
                model=model,
                vl=vl,
                fallback=fallback,
                args=tuple(ctx.args),
                env=_env_pairs(env or []),
            ),
            config.model_roots,
        )
    except SpecError as exc:
        raise _fail(str(exc), 2) from exc

    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: cancel.set())  # stop the server, then report
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())

    def show(event: Event) -> None:
        if not as_json:
            words = event.stage or event.message or ""
            err.print(Text(f"[{event.phase}] {words}".rstrip()), soft_wrap=True)

    result = run_playbook(spec, config, show, cancel, triage=_triage_with(settings))
    if as_json:
        print(json.dumps(result_json(result)))
    else:
        _print(result)
    raise typer.Exit(EXIT.get(result.status, 1))


def result_json(result: RunResult) -> dict[str, object]:
    """The DESIGN.md run JSON (and more fields after it), secrets redacted."""
    data = result.model_dump(mode="json", exclude={"spec"})
    cleaned: dict[str, object] = json.loads(redact(json.dumps(data)))
    return cleaned


def _triage_with(settings: Settings):  # type: ignore[no-untyped-def]
    def triage(text: str) -> dict[str, object] | None:
        from kb import KBError, load

        try:
            found = load(settings.kb_config()).triage(text)
        except (KBError, OSError) as exc:
            err.print(Text(f"(no triage: {exc})"))
            return None
        return found.to_dict()

    return triage


def _print(result: RunResult) -> None:
    colour = "green" if result.status == "passed" else "red"
    out.print(Text.assemble((f"{result.status.upper()}", f"bold {colour}"), f"  {result.verdict}"))
    if result.ready_s is not None:
        out.print(f"ready after {result.ready_s:.1f} s")
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items() if v >= 0.05)
    out.print(Text(f"phases: {phases}"))
    if result.first_error:
        out.print(Text(f"first error: {redact(result.first_error.signature)}"))
    if result.triage and result.triage.get("matches"):
        top = result.triage["matches"][0]
        out.print(Text(f"runbook: {top['title']} ({top['confidence']})"))
    if result.next:
        nxt = result.next.fallback or ""
        out.print(Text(f"next: {result.next.playbook} {nxt} ({result.next.reason})"))
    for note in result.notes:
        out.print(Text(f"note: {note}"))
    out.print(Text(f"log: {result.log_path}"))
    if result.status != "passed":
        for line in result.log_tail[-10:]:
            out.print(Text("  " + redact(line)), soft_wrap=True)
