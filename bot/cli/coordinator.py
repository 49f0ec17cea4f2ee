"""`ascend-oncall coordinator`: the job API agents poll, and its agents (add, revoke, list)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from bot.cli.common import HostOption, PortOption, err, fail, load_settings, out
from bot.settings import Settings

if TYPE_CHECKING:
    from runners import Agent, Job


coordinator_app = typer.Typer(
    invoke_without_command=True,
    subcommand_metavar="[COMMAND]",  # none: serve the API
    help="The job API agents poll (alone; `serve` also serves it beside Slack).",
)


def _jobs(settings: Settings):  # type: ignore[no-untyped-def]
    from runners import RunnerError, open_jobs

    try:
        return open_jobs(settings.database_url, settings.lease_s, settings.max_log_upload_bytes)
    except RunnerError as exc:
        raise fail(str(exc)) from exc


@coordinator_app.callback()
def coordinator(
    ctx: typer.Context,
    port: PortOption = None,
    host: HostOption = None,
) -> None:
    """Serve the agents' API at /api/runners/v1 (and /healthz) until interrupted."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.slack.http import listen, server
    from runners import coordinator_app as make_app
    from runners import safe_url

    settings = load_settings()
    store = _jobs(settings)
    sock = listen(host or settings.host, settings.port if port is None else port)
    bound = sock.getsockname()
    base = f"http://{bound[0]}:{bound[1]}"
    err.print(
        f"coordinator on {base}/api/runners/v1 (and {base}/healthz, {base}/metrics); "
        f"jobs and agents in {safe_url(settings.database_url)}: the bot's database",
        soft_wrap=True,
    )
    api = make_app(store, queue_for=timedelta(seconds=settings.queue_s))
    srv = server(api)
    srv.config.lifespan = "on"
    srv.run(sockets=[sock])


@coordinator_app.command("add-agent")
def add_agent(
    name: Annotated[str, typer.Argument(help="A name for the agent (its host).")],
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="Labels it may claim besides its name (repeatable)."),
    ] = None,
) -> None:
    """Create an agent and print its token (shown once; only a hash is stored)."""
    from runners import RunnerError

    store = _jobs(load_settings())
    try:
        token = store.add_agent(name, label)
    except RunnerError as exc:
        raise fail(str(exc)) from exc
    err.print(
        f"agent {name}: its token is below, shown once. On its host, put it in "
        "ONCALL_AGENT_TOKEN (not on the command line, where `ps` shows it)."
    )
    print(token)


@coordinator_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The agent's name.")]) -> None:
    """Revoke an agent's token: its calls are refused from now on."""

    if not _jobs(load_settings()).revoke(name):
        raise fail(f"no agent named {name}")
    err.print(f"revoked {name}: its calls are refused from now on, and it stops")


@coordinator_app.command("agents")
def agents(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the agents as a JSON list.")
    ] = False,
) -> None:
    """Agents, their labels, when they were last heard from, and their current job."""
    rows = _jobs(load_settings()).agents()
    data = [
        {
            "name": a.name,
            "labels": list(a.labels),
            "allowed": list(a.allowed) if a.allowed is not None else None,
            "host": a.hostname,
            "last_seen": a.last_seen.isoformat() if a.last_seen else None,
            "job": job.id if job else None,
        }
        for a, job in rows
    ]
    if as_json:
        print(json.dumps(data))
        return
    if not rows:
        err.print("no agents yet: `ascend-oncall coordinator add-agent NAME --label L` makes one")
        return
    out.print(_agents_table(rows, datetime.now(UTC)))


def _agents_table(rows: list[tuple[Agent, Job | None]], now: datetime) -> Table:
    table = Table("agent", "labels", "may claim", "host", "last seen", "job", box=box.SIMPLE)
    for a, job in rows:
        where = f"{job.phase}: {job.stage}" if job and job.stage else job.phase if job else ""
        doing = f"{job.id} {job.spec.playbook} {job.spec.model} ({where})" if job else "-"
        table.add_row(
            Text(a.name),
            Text(", ".join(a.labels) or "-"),
            Text(", ".join([a.name, *a.allowed])),  # its name, and what add-agent gave it
            Text(a.hostname or "-"),
            _ago(a.last_seen, now),
            Text(doing),
        )
    return table


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"
