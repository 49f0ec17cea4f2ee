"""The runbook from the command line: `triage` (a log, or a JSONL of them, against the
runbook) and `kb lint|search|eval`."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext as _nothing
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bot.cli.common import BIG_LOG, err, fail, load_settings, out
from bot.render.terminal import report_view, search_view, splits_view, triage_view
from kb import HELD_OUT, InputError, KBError, Triager, check, evaluate, load, load_cases, resolve

kb_app = typer.Typer(no_args_is_help=True, help="The runbook knowledge base.")

KBOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--kb",
        metavar="PATH",
        help="More runbook files or folders (repeatable).",
        show_default=False,
    ),
]
NoDefault = Annotated[bool, typer.Option("--no-default-kb", help="Leave out the shipped runbook.")]


LOADING = "loading the runbook index and the embedding model"


def _triager(kb: list[Path] | None, no_default: bool, top: int = 3) -> Triager:
    config = load_settings().kb_config(extra=kb, default=False if no_default else None)
    try:
        with err.status(LOADING):  # shown on a terminal only, on stderr
            return load(config.model_copy(update={"top": top}))
    except KBError as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(
            f"cannot use the index cache ONCALL_CACHE_DIR={config.cache_dir}: {exc}"
        ) from exc


def triage(
    path: Annotated[
        str | None, typer.Argument(metavar="LOG", help="Log file, or - for stdin.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl",
            metavar="FILE",
            help='JSONL of {"text": ...} (- for stdin); one result per line, exit 1 if any '
            "line failed.",
        ),
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=50, metavar="N", help="Candidates to list.")] = 3,
    kb: KBOption = None,
    no_default_kb: NoDefault = False,
) -> None:
    """Find the runbook entry that matches a log's root cause."""
    if jsonl is not None:
        _triage_jsonl(jsonl, _triager(kb, no_default_kb, top))
        return
    if path in (None, "-"):
        if sys.stdin.isatty():
            raise fail(
                "no log given: name a file, or pipe one in (cmd | ascend-oncall triage -)", 2
            )
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise fail(f"cannot read {path}: {exc.strerror}") from exc
    triager = _triager(kb, no_default_kb, top)
    try:
        with (
            err.status(f"reading a {len(data) / 1e6:.1f} MB log")
            if len(data) > BIG_LOG
            else _nothing()
        ):
            result = triager.triage(data)
    except InputError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        out.print(triage_view(result))


def _triage_jsonl(path: Path, triager: Triager) -> None:
    """One answer per input line, in order; a bad line gets an error object and the rest go
    on. Exit 1 when any line failed, with their count on stderr (scripts check the code)."""
    try:
        if str(path) == "-":
            lines = sys.stdin.buffer.read().decode("utf-8", "replace").splitlines()
        else:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from exc
    failed = 0
    for no, line in enumerate(lines, start=1):
        item_id, text, problem = _jsonl_item(line)
        answer: dict[str, object] = {} if item_id is None else {"id": item_id}
        if problem is None:
            try:
                answer |= triager.triage(text).to_dict()
            except InputError as exc:
                problem = str(exc)
        if problem is not None:
            failed += 1
            answer |= {"verdict": "error", "error": f"line {no}: {problem}"}
        print(json.dumps(answer, ensure_ascii=False), flush=True)
    if failed:
        raise fail(f"{failed} of {len(lines)} line(s) could not be triaged (see their errors)")


def _jsonl_item(line: str) -> tuple[object, str, str | None]:
    """(id, text, problem) of one input line."""
    if not line.strip():
        return None, "", "blank line"
    try:
        item = json.loads(line)
    except ValueError:
        return None, "", "not JSON"
    if not isinstance(item, dict):
        return None, "", 'not a JSON object with a "text" field'
    text = item.get("text")
    if not isinstance(text, str):
        return item.get("id"), "", 'no "text" string in the object'
    return item.get("id"), text, None


@kb_app.command("lint")
def kb_lint(kb: KBOption = None, no_default_kb: NoDefault = False) -> None:
    """Check runbooks; report each malformed section with file:line."""
    config = load_settings().kb_config(extra=kb, default=False if no_default_kb else None)
    entries, problems = check(config.runbooks)
    for p in sorted(problems, key=lambda p: (p.path, p.line)):
        out.print(Text(str(p)), soft_wrap=True)
    if problems:
        raise fail(f"{len(problems)} problem(s) in {len(config.runbooks)} runbook source(s)")
    out.print(f"ok: {len(entries)} entries in {len(config.runbooks)} runbook source(s)")


@kb_app.command("search")
def kb_search(
    words: Annotated[list[str], typer.Argument(metavar="WORDS", help="Words to look up.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list.")] = False,
    top: Annotated[int, typer.Option(min=1, metavar="N", help="Entries to list.")] = 5,
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
    cases: Annotated[
        list[Path],
        typer.Argument(help="JSONL cases: text, expected (entry id, title or null), source."),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the figures as one JSON object.")
    ] = False,
    split: Annotated[str | None, typer.Option(help="Only cases of this split.")] = None,
    kb: KBOption = None,
    no_default_kb: NoDefault = False,
) -> None:
    """Score triage on labelled cases: top-1, top-3, abstain, MRR, per entry and per split.

    A case's split is its "split" field, else its file's name. Misses are listed for every
    split but `heldout`, which is scored, never read case by case."""
    loaded = []
    for path in cases:
        try:
            loaded += load_cases(path)
        except OSError as exc:
            raise fail(f"cannot read {path}: {exc.strerror}") from exc
        except InputError as exc:
            raise fail(str(exc)) from exc
    if split:
        loaded = [c for c in loaded if c.split == split]
    triager = _triager(kb, no_default_kb)
    try:
        loaded = resolve(loaded, triager.index.entries)
    except InputError as exc:
        raise fail(str(exc)) from exc
    report = evaluate(loaded, triager.triage)
    splits = report.splits()
    if as_json:
        body = {
            "metrics": report.metrics(),
            "splits": {name: report.split(name).metrics() for name in splits},
            "per_entry": report.per_entry(),
            "misses": [o.case.id for o in report.failures() if o.case.split != HELD_OUT],
        }
        print(json.dumps(body))
        return
    heading = ", ".join(p.name for p in cases) + (f" [{split}]" if split else "")
    if len(splits) > 1:  # splits are judged apart: their figures first, the pool after
        out.print(splits_view(report, splits))
        heading += ": all splits pooled (quote the figures per split, above)"
    out.print(report_view(report, heading, hidden=(HELD_OUT,)))
