"""Read Markdown runbooks into entries.

The format is the users' own runbook's: `## Title`, a `Symptoms:` bullet list and an
`Actions:` numbered list, with inline code and fenced code inside items. Anything else
inside a section is reported as a problem with its line, never skipped in silence.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import Problem, RunbookError
from kb.signatures import Signature, derive_signatures

DEFAULT_RUNBOOK = Path(__file__).parent / "data" / "vllm-ascend-troubleshooting.md"

_HEADING = re.compile(r"^##\s+(?P<title>\S.*?)\s*#*\s*$")
_LABEL = re.compile(r"^\**(?P<label>symptoms|actions)\**\s*:\s*\**\s*$", re.IGNORECASE)
_BULLET = re.compile(r"^[-*+]\s+(?P<text>.*)$")
_NUMBERED = re.compile(r"^\d+[.)]\s+(?P<text>.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def slugify(title: str) -> str:
    """Stable id of an entry: its title, lower-case, words joined by '-'."""
    text = re.sub(r"['\u2019`]", "", title.lower())
    return re.sub(r"[\W_]+", "-", text).strip("-")  # letters of any script stay


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    symptoms: tuple[str, ...]
    actions: tuple[str, ...]
    path: str
    line: int
    content_hash: str
    signatures: tuple[Signature, ...] = field(default=(), compare=False)

    @property
    def text(self) -> str:
        """All of the entry as one text, for lexical and dense indexing."""
        return "\n".join([self.title, *self.symptoms, *self.actions])


@dataclass
class _Section:
    title: str
    line: int
    symptoms: list[list[str]] = field(default_factory=list)
    actions: list[list[str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    raw: list[str] = field(default_factory=list)


def _parse_file(path: Path) -> tuple[list[_Section], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [Problem(str(path), 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    except OSError as exc:
        return [], [Problem(str(path), 1, f"cannot read: {exc.strerror}")]
    sections: list[_Section] = []
    problems: list[Problem] = []
    current: _Section | None = None
    block: str | None = None  # "symptoms" | "actions"
    item: list[str] | None = None
    fence_line = 0

    def problem(lineno: int, message: str) -> None:
        problems.append(Problem(str(path), lineno, message))

    # Split on "\n" only: splitlines() would also break at form feeds and U+2028 inside text.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if current is not None:
            current.raw.append(line)
        if fence_line:
            if item is not None:
                item.append(line)
            if _FENCE.match(line):
                fence_line = 0
            continue
        stripped = line.strip()
        heading = _HEADING.match(line)
        if heading:
            current = _Section(title=heading.group("title"), line=lineno, raw=[line])
            sections.append(current)
            block, item = None, None
            continue
        if current is None or not stripped:
            continue  # the page title and intro before the first entry are free text
        if _FENCE.match(line):
            fence_line = lineno
            if item is None:
                problem(lineno, "code block outside a Symptoms or Actions item")
            else:
                item.append(line)
            continue
        label = _LABEL.match(stripped)
        if label:
            block = label.group("label").lower()
            if block in current.seen:
                problem(lineno, f"second '{block.capitalize()}:' list in section {current.title!r}")
            current.seen.add(block)
            item = None
            continue
        marker = _BULLET.match(stripped) if block == "symptoms" else _NUMBERED.match(stripped)
        if block and marker and not line.startswith((" ", "\t")):
            item = [marker.group("text")]
            (current.symptoms if block == "symptoms" else current.actions).append(item)
        elif item is not None and line.startswith((" ", "\t")):
            item.append(line)
        elif block is None:
            problem(
                lineno, f"text before 'Symptoms:' in section {current.title!r}: {stripped[:60]!r}"
            )
        else:
            want = "a '- ' bullet" if block == "symptoms" else "a numbered item ('1. ')"
            problem(lineno, f"expected {want} under '{block.capitalize()}:', got {stripped[:60]!r}")
    if fence_line:
        problem(fence_line, "code block is never closed")
    if not sections:
        problem(1, "no '## ' sections: a runbook entry starts with '## Title'")
    for section in sections:
        for name in ("symptoms", "actions"):
            if name not in section.seen:
                problem(
                    section.line, f"section {section.title!r} has no '{name.capitalize()}:' list"
                )
            elif not getattr(section, name):
                problem(
                    section.line,
                    f"section {section.title!r} has an empty '{name.capitalize()}:' list",
                )
    return sections, problems


def _item_text(lines: list[str]) -> str:
    head, rest = lines[0].strip(), textwrap.dedent("\n".join(lines[1:])).strip("\n")
    return f"{head}\n{rest}" if rest else head


def check(paths: Sequence[Path]) -> tuple[list[Entry], list[Problem]]:
    """Parse runbooks; return the entries and every problem found (the lint verb)."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    first_seen: dict[str, str] = {}
    if not paths:
        problems.append(
            Problem("(settings)", 0, "no runbook configured: give --kb PATH or keep the default")
        )
    for path in _runbook_files(paths):
        if isinstance(path, Problem):
            problems.append(path)
            continue
        sections, found = _parse_file(path)
        problems.extend(found)
        for s in sections:
            entry_id = slugify(s.title)
            where = f"{path}:{s.line}"
            if not entry_id:
                problems.append(Problem(str(path), s.line, f"title {s.title!r} gives an empty id"))
                continue
            if entry_id in first_seen:
                problems.append(
                    Problem(
                        str(path),
                        s.line,
                        f"duplicate title {s.title!r} (first at {first_seen[entry_id]})",
                    )
                )
                continue
            first_seen[entry_id] = where
            symptoms = tuple(_item_text(i) for i in s.symptoms)
            actions = tuple(_item_text(i) for i in s.actions)
            digest = hashlib.sha256("\n".join(s.raw).strip().encode()).hexdigest()
            entry = Entry(entry_id, s.title, symptoms, actions, str(path), s.line, digest)
            entries.append(
                Entry(
                    **{
                        **entry.__dict__,
                        "signatures": derive_signatures(s.title, symptoms),
                    }
                )
            )
    return entries, problems


def parse(paths: Sequence[Path] = (DEFAULT_RUNBOOK,)) -> list[Entry]:
    """Parse runbooks into entries; any problem raises RunbookError with file:line."""
    entries, problems = check(paths)
    if problems:
        raise RunbookError(problems)
    return entries


def _runbook_files(paths: Iterable[Path]) -> Iterable[Path | Problem]:
    """Each runbook file once, in the order given, even if named twice or via a folder."""
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*.md"))
            if not found:
                yield Problem(str(path), 0, "folder holds no .md runbook")
        elif path.is_file():
            found = [path]
        else:
            yield Problem(str(path), 0, "no such runbook file or folder")
            continue
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                yield file
