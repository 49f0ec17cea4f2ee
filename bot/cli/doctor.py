"""`ascend-oncall doctor`: a checkpoint's metadata checked before `vllm serve` spends
minutes on it; each finding with its evidence and the runbook entry it predicts.

Exit 0 without errors, 1 with errors, 2 for usage (no such folder, unreadable flags).
"""

from __future__ import annotations

import json
import shlex
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from bot.cli.common import err, fail, load_settings, out
from kb import Entry, KBError, parse
from runners import DoctorError, DoctorReport, Finding, diagnose

_STYLE = {
    "passed": "green",
    "error": "bold red",
    "warning": "yellow",
    "info": "cyan",
    "not checked": "dim",
}


def doctor_command(
    ctx: typer.Context,
    model_dir: Annotated[str, typer.Argument(metavar="MODEL_DIR", help="The model's folder.")],
    tp: Annotated[
        int | None,
        typer.Option("--tp", min=1, metavar="N", help="Tensor parallel size (default 1)."),
    ] = None,
    max_model_len: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="The --max-model-len to serve with.")
    ] = None,
    vllm_cmd: Annotated[
        str | None,
        typer.Option(
            metavar="CMD",
            help="The `vllm` that will serve it, asked what it registers (default "
            "ONCALL_VLLM_CMD, vllm).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a checkpoint before serving it: config, architecture, the model's own code,
    heads vs TP, index and shard headers, fp8 scales, MTP, key prefixes, max length,
    tokenizer. Serve arguments it should judge go after `--`. Reads no weights."""
    settings = load_settings()
    command = tuple(shlex.split(vllm_cmd)) if vllm_cmd else settings.runner_config().vllm_cmd
    try:
        with err.status("reading the checkpoint and asking the serving vLLM"):
            report = diagnose(
                model_dir, tp=tp, max_model_len=max_model_len, serve_args=tuple(ctx.args),
                vllm_cmd=command,
            )  # fmt: skip
    except DoctorError as exc:
        raise fail(str(exc), 2) from exc
    runbook = _runbook(settings.kb_config().runbooks)
    if as_json:
        print(json.dumps(report_json(report, runbook), ensure_ascii=False))
    else:
        table, *lines = report_view(report, runbook)
        out.print(table)
        for line in lines:  # evidence and paths are copied from here: never hard-wrapped
            out.print(line, soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


def _runbook(paths: tuple[Any, ...]) -> dict[str, Entry]:
    try:
        return {e.id: e for e in parse(paths)}
    except KBError as exc:  # the findings stand without titles
        err.print(Text(f"(runbook not read, so no titles or actions: {exc})"), soft_wrap=True)
        return {}


def report_json(report: DoctorReport, runbook: dict[str, Entry]) -> dict[str, object]:
    """The doctor's JSON: ok, findings (with the entry's exact title), checked."""

    def finding(f: Finding) -> dict[str, object]:
        entry = runbook.get(f.entry_id or "")
        return {
            "check": f.check,
            "severity": f.severity,
            "entry_id": f.entry_id,
            "title": entry.title if entry else None,
            "message": f.message,
            "evidence": list(f.evidence),
            "actions": list(entry.actions) if entry else [],
        }

    return {
        "ok": report.ok,
        "model_dir": report.model_dir,
        "findings": [finding(f) for f in report.findings],
        "checked": [c.model_dump() for c in report.checked],
        "serving": report.probe,
    }


def report_view(report: DoctorReport, runbook: dict[str, Entry]) -> list[Table | Text]:
    """The table of checks, then each finding: evidence, runbook entry, its actions."""
    table = Table("check", "result", "note", box=box.SIMPLE, title=Text(report.model_dir))
    for c in report.checked:
        table.add_row(Text(c.check), Text(c.outcome, style=_STYLE[c.outcome]), Text(c.note))
    parts: list[Table | Text] = [table]
    for f in report.findings:
        parts.append(
            Text.assemble((f"{f.severity}: ", _STYLE[f.severity]), f"[{f.check}] ", f.message)
        )
        parts += [Text(f"    {line}") for line in f.evidence]
        entry = runbook.get(f.entry_id or "")
        if entry is not None:
            parts.append(Text.assemble("    runbook: ", (entry.title, "bold")))
            parts += [Text(f"      {n}. {a}") for n, a in enumerate(entry.actions, start=1)]
        elif f.entry_id:
            parts.append(Text(f"    runbook entry: {f.entry_id}"))
    serving = ", ".join(f"{k} {v}" for k, v in report.probe.items())
    parts.append(Text(f"serving environment: {serving or 'not asked'}", style="dim"))
    verdict = "no errors" if report.ok else f"{len(report.errors)} error(s)"
    parts.append(
        Text(
            f"{verdict}, {len(report.warnings)} warning(s)",
            style=_STYLE["passed" if report.ok else "error"],
        )
    )
    return parts
