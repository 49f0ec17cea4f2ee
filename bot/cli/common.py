"""What every command of the CLI shares: its consoles, settings and failure."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from bot.settings import Settings

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
