"""What every command of the CLI shares: its consoles, settings and failure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from bot.settings import Settings

if TYPE_CHECKING:  # the runbook's names load the index's stack: only when a run asks
    from kb import Triage, Triager
    from runners import RunResult, RunTriage

out = Console()
err = Console(stderr=True)
BIG_LOG = 1_000_000  # bytes: past this, reading takes long enough to say so

# Where a server command listens (serve, coordinator).
PortOption = Annotated[
    int | None, typer.Option(metavar="PORT", help="HTTP port (default ONCALL_PORT, 3000).")
]
HostOption = Annotated[
    str | None, typer.Option(metavar="ADDRESS", help="Address to bind (default ONCALL_HOST).")
]


def fail(message: str, code: int = 1) -> typer.Exit:
    # Messages carry runbook and log text: never let rich read "[...]" in them as markup.
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    return typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{setting_name(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise fail(f"bad setting: {problems}") from exc


def setting_name(loc: tuple[int | str, ...]) -> str:
    name = "_".join(map(str, loc)).upper()
    return name if name.startswith("SLACK_") else f"ONCALL_{name}"


class Runbook:
    """The runbook, as the CLI reads runs against it (`run`, `run autopilot`, `jobs show`):
    its index is loaded on first use (seconds), once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._triager: Triager | None = None

    def triage(self, text: str, /, *, observed: frozenset[str] = frozenset()) -> Triage:
        """kb's triage of a first error (a `runners` Triager, what the ladder asks)."""
        if self._triager is None:
            from kb import load

            self._triager = load(self.settings.kb_config())
        return self._triager.triage(text, observed=observed)

    def triage_run(self, result: RunResult, quiet: bool = False) -> RunTriage | None:
        """The runbook's answer for a run's first error: the one the run brought (the
        doctor's, an agent's), else read here. None when the run has no first error, or
        the runbook cannot be read (said on stderr: the verdict goes on without a match)."""
        if result.triage is not None or result.first_error is None:
            return result.triage
        from kb import KBError

        if not quiet and not err.is_terminal:  # a terminal sees the spinner instead
            err.print(Text("[triage] reading the log against the runbook"))
        try:
            with err.status("reading the log against the runbook", spinner="dots"):
                return result.triaged(self.triage)
        except (KBError, OSError) as exc:
            err.print(Text(f"(no runbook match: {exc})"), soft_wrap=True)
            return None
