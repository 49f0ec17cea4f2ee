"""The `ascend-oncall` command: triage, runbook lookup, lint and eval (more to come).

The CLI is a front end: it builds settings, calls the core, and turns domain errors into
words and exit codes. Exit codes: 0 done, 1 bad input or runbook, 2 usage.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.settings import Settings, work_offline
from bot.terminal import report_view, search_view, triage_view
from kb import InputError, KBError, Triager, check, evaluate, load, load_cases

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
kb_app = typer.Typer(no_args_is_help=True, help="The runbook knowledge base.")
app.add_typer(kb_app, name="kb")

out = Console()
err = Console(stderr=True)

KBOption = Annotated[
    list[Path] | None,
    typer.Option("--kb", help="More runbook files or folders (repeatable).", show_default=False),
]
NoDefault = Annotated[bool, typer.Option("--no-default-kb", help="Leave out the shipped runbook.")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def _triager(kb: list[Path] | None, no_default: bool, top: int = 3) -> Triager:
    settings = Settings()
    config = settings.kb_config(extra=kb, default=False if no_default else None)
    try:
        return load(config.model_copy(update={"top": top}))
    except KBError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def triage(
    path: Annotated[str | None, typer.Argument(help="Log file, or - for stdin.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    jsonl: Annotated[
        Path | None, typer.Option("--jsonl", help='JSONL of {"text": ...}; one result per line.')
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=17 * 10, help="Candidates to list.")] = 3,
    kb: KBOption = None,
    no_default_kb: NoDefault = False,
) -> None:
    """Find the runbook entry that matches a log's root cause."""
    if jsonl is not None:
        _triage_jsonl(jsonl, _triager(kb, no_default_kb, top))
        return
    if path in (None, "-"):
        if sys.stdin.isatty():
            raise _fail("give a log file, or pipe the log in with '-'", 2)
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    triager = _triager(kb, no_default_kb, top)
    try:
        result = triager.triage(data)
    except InputError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        out.print(triage_view(result))


def _triage_jsonl(path: Path, triager: Triager) -> None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from exc
    for no, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError("'text' is not a string")
            answer: dict[str, object] = triager.triage(text).to_dict()
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"error": f"line {no}: not an object with a 'text' string ({exc})"}
        except InputError as exc:
            answer = {"error": f"line {no}: {exc}"}
        if isinstance(item := _maybe_id(line), str):
            answer = {"id": item, **answer}
        print(json.dumps(answer, ensure_ascii=False), flush=True)


def _maybe_id(line: str) -> object:
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed.get("id") if isinstance(parsed, dict) else None


@kb_app.command("lint")
def kb_lint(kb: KBOption = None, no_default_kb: NoDefault = False) -> None:
    """Check runbooks; report each malformed section with file:line."""
    config = Settings().kb_config(extra=kb, default=False if no_default_kb else None)
    entries, problems = check(config.runbooks)
    for p in problems:
        out.print(f"{p.path}:{p.line}: {p.message}", highlight=False, soft_wrap=True)
    if problems:
        raise _fail(f"{len(problems)} problem(s) in {len(config.runbooks)} runbook source(s)")
    out.print(f"ok: {len(entries)} entries in {len(config.runbooks)} runbook source(s)")


@kb_app.command("search")
def kb_search(
    words: Annotated[list[str], typer.Argument(help="Words to look up.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    top: Annotated[int, typer.Option(min=1)] = 5,
    kb: KBOption = None,
    no_default_kb: NoDefault = False,
) -> None:
    """On-call runbook lookup: entries for some words, with their actions."""
    query = " ".join(words)
    matches = _triager(kb, no_default_kb).search(query, top=top)
    if as_json:
        print(
            json.dumps([m.__dict__ | {"actions": list(m.actions), "evidence": []} for m in matches])
        )
    else:
        out.print(search_view(query, matches))


@kb_app.command("eval")
def kb_eval(
    cases: Annotated[Path, typer.Argument(help="JSONL cases: text, expected (id or null).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    split: Annotated[str | None, typer.Option(help="Only cases of this split.")] = None,
    kb: KBOption = None,
    no_default_kb: NoDefault = False,
) -> None:
    """Score triage on labelled cases: top-1, top-3, abstain, MRR, per entry."""
    try:
        loaded = load_cases(cases)
    except (OSError, InputError) as exc:
        raise _fail(str(exc)) from exc
    if split:
        loaded = [c for c in loaded if c.split == split]
    triager = _triager(kb, no_default_kb)
    known = {e.id for e in triager.index.entries}
    unknown = sorted({c.expected for c in loaded if c.expected and c.expected not in known})
    if unknown:
        raise _fail(f"cases expect entries the runbook does not have: {', '.join(unknown)}")
    report = evaluate(loaded, triager.triage)
    if as_json:
        print(
            json.dumps(
                {
                    "metrics": report.metrics(),
                    "per_entry": report.per_entry(),
                    "misses": [o.case.id for o in report.failures()],
                }
            )
        )
        return
    out.print(report_view(report, f"{cases.name}" + (f" [{split}]" if split else "")))
    splits = sorted({c.split for c in loaded})
    if len(splits) > 1:
        for name in splits:
            out.print(name, report.split(name).metrics())


def main() -> None:
    work_offline()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
