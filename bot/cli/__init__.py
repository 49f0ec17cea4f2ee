"""The `ascend-oncall` command line: a front end that builds settings, calls the core,
and turns domain errors into words and exit codes (0 done, 1 bad input or runbook, 2 usage).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.text import Text

from bot.cli.common import HostOption, PortOption, err, fail, load_settings
from bot.cli.help import PlainHelp
from bot.cli.kb import LOADING, kb_app, triage
from bot.errors import BotError
from bot.settings import Settings, default_data_dir, work_offline
from kb import KBError

if TYPE_CHECKING:
    from bot.core.oncall import Oncall

# The Slack stack (bolt, FastAPI, SQLAlchemy) is imported by the commands that use it, so
# `ascend-oncall triage` starts as fast as the triage engine allows.

app = typer.Typer(
    cls=PlainHelp,
    help=(
        "On-call triage of vLLM / vllm-ascend logs against the team's runbook. With no "
        "command: the Slack bot when SLACK_BOT_TOKEN is set, else the console."
    ),
)
app.add_typer(kb_app, name="kb")


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"ascend-oncall {version('ascend-oncall')}")
        except PackageNotFoundError:  # run from a checkout that was never pip-installed
            print("ascend-oncall (not installed: no version)")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def start(
    ctx: typer.Context,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """With no command: the Slack bot when Slack tokens are set, else the console."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    if settings.slack_configured:
        _serve(settings)
        return
    err.print(
        "No Slack tokens (SLACK_BOT_TOKEN) are set, so this is the console: the same "
        "commands, in this terminal. README 'Connect to Slack' says how to add them.",
        soft_wrap=True,
    )
    _console(settings)


def _model_or_cache(cache_dir: Path | None, exc: OSError) -> str:
    return (
        f"cannot read the embedding model (ONCALL_MODEL_PATH) or use the index cache "
        f"(ONCALL_CACHE_DIR={cache_dir}): {exc}"
    )


def _oncall(settings: Settings, background: bool = False) -> Oncall:
    from bot.service import open_oncall

    try:
        if background:  # serve: Slack is answered while the index and model load
            return open_oncall(settings, background=True)
        with err.status(LOADING):
            return open_oncall(settings)
    except (BotError, KBError) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(
            f"cannot use the index cache ONCALL_CACHE_DIR={settings.cache_dir}: {exc}"
        ) from exc


def _serve(settings: Settings) -> None:
    from bot.service import check_slack, serve
    from bot.slack.app import check_token

    logging.getLogger("ascend_oncall").setLevel(
        logging.INFO
    )  # say where it serves, and why work resumes
    try:
        check_slack(settings)
        check_token(settings)  # a wrong token fails now, not after the model has loaded
        serve(settings, _oncall(settings, background=True))
    except (BotError, OSError) as exc:
        raise fail(str(exc)) from exc


def _console(settings: Settings) -> None:
    from bot.cli import console

    oncall = _oncall(settings)
    if sys.stdin.isatty() and sys.stdout.isatty():  # a person at a terminal: line editing
        prompt = console.session(default_data_dir() / "console-history")
        console.run_terminal(oncall, sys.stdout, prompt)
    else:  # a pipe or a file (`console < vllm.log`), and the tests: plain lines
        console.run(oncall, sys.stdin, sys.stdout, interactive=sys.stdin.isatty())


@app.command("serve")
def serve_command(
    port: PortOption = None,
    host: HostOption = None,
) -> None:
    """The Slack bot: Socket Mode if SLACK_APP_TOKEN is set, else HTTP at /slack/events."""
    settings = load_settings()
    updates = {k: v for k, v in {"port": port, "host": host}.items() if v is not None}
    _serve(settings.model_copy(update=updates))


@app.command("console")
def console_command() -> None:
    """The bot's commands in this terminal, with no Slack: /triage, /runbook, pastes."""
    _console(load_settings())


@app.command("slack-manifest")
def slack_manifest(
    url: Annotated[
        str | None, typer.Option(metavar="URL", help="Public https URL of /slack/events.")
    ] = None,
    socket: Annotated[bool, typer.Option("--socket", help="For Socket Mode.")] = False,
) -> None:
    """Print the Slack app manifest to paste at api.slack.com/apps."""
    if url and socket:
        raise fail("--url is for HTTP mode; Socket Mode needs no URL", 2)
    if url and not (url.startswith("https://") and url.rstrip("/").endswith("/slack/events")):
        raise fail(f"--url must be the https address of /slack/events, not {url}", 2)
    from bot.service import manifest

    print(manifest(url, socket), end="")


app.command("triage")(triage)  # the runbook's commands: bot/cli/kb.py


def _register_runner_commands() -> None:
    from bot.cli.agent import runner_command
    from bot.cli.coordinator import coordinator_app
    from bot.cli.doctor import doctor_command
    from bot.cli.jobs import jobs_app
    from bot.cli.runs import run_command

    extra_args = {"allow_extra_args": True, "ignore_unknown_options": True}
    app.command("run", context_settings=extra_args)(run_command)
    app.command("doctor", context_settings=extra_args)(doctor_command)
    app.command("runner")(runner_command)
    app.add_typer(coordinator_app, name="coordinator")
    app.add_typer(jobs_app, name="jobs")


_register_runner_commands()


# What the `bot` extra installs: an agent-only install (the base) lacks them.
BOT_STACK = frozenset(
    {
        "alembic", "bm25s", "faiss", "fastapi", "onnx", "onnxruntime", "prometheus_client",
        "prompt_toolkit", "sentence_transformers", "slack_bolt", "slack_sdk", "sqlalchemy",
        "tokenizers", "uvicorn",
    }
)  # fmt: skip


def main() -> None:
    from bot import logs

    work_offline()
    try:
        log_format = Settings().log_format
    except ValidationError:  # the command itself says which setting is wrong
        log_format = "text"
    logs.configure(log_format)
    try:
        app()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in BOT_STACK:
            raise
        err.print(
            Text.assemble(
                ("error: ", "bold red"),
                f"this command needs the bot's packages ({exc.name} is missing): this is an "
                "agent-only install. Install them with: pip install 'ascend-oncall[bot]'",
            ),
            soft_wrap=True,
        )
        raise SystemExit(1) from None
