"""`ascend-oncall run`: one playbook on this host, with no Slack and no coordinator."""

from __future__ import annotations

import json
import shlex
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from bot.cli.common import HostOption, PortOption, err, fail, load_settings, out
from bot.render.run_answers import (
    answers_heading,
    check_table,
    comparison_lines,
    finding_lines,
    reply_lines,
)
from bot.render.run_doctor import doctor_heading, doctor_lines
from bot.settings import Settings
from runners import (
    PLAYBOOKS,
    Event,
    FileBook,
    JobSpec,
    RunResult,
    RunTriage,
    SpecError,
    check_spec,
    redact,
    redact_data,
    run_playbook,
    settle_replies,
)

if TYPE_CHECKING:
    from runners import Agent, Job


IDLE_EXIT_S = 2.0  # an idle agent asked to stop leaves within this
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
    playbook: Annotated[
        str,
        typer.Argument(
            help="smoke, eager, fallback, or autopilot (the ladder until a config works).",
            autocompletion=lambda: [*PLAYBOOKS, "autopilot"],
        ),
    ],
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
        list[str] | None,
        typer.Option("--model-root", metavar="DIR", help="A folder model paths may be under."),
    ] = None,
    startup_budget: Annotated[
        float | None, typer.Option(help="Seconds to become ready (default 1800).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as one JSON object.")
    ] = False,
    allow_remote_code: Annotated[
        bool,
        typer.Option(
            "--allow-remote-code",
            help="Let the run pass --trust-remote-code (the model repo's Python runs here).",
        ),
    ] = False,
    no_doctor: Annotated[
        bool,
        typer.Option(
            "--no-doctor",
            help="Launch a model folder without examining it first (see `doctor`).",
        ),
    ] = False,
    record_golden: Annotated[
        bool,
        typer.Option(
            "--record-golden",
            help="A passing run's deterministic replies become the model's known-good ones.",
        ),
    ] = False,
) -> None:
    """Run one playbook here: launch the server, wait for ready, smoke it, stop, judge.
    Extra serve arguments go after `--`."""

    settings: Settings = load_settings()
    ladder = playbook == "autopilot"  # the ladder of smoke, eager and fallbacks
    if ladder:
        playbook = "smoke"
    if playbook not in PLAYBOOKS:
        choices = ", ".join([*PLAYBOOKS, "autopilot"])
        raise fail(f"playbook must be one of {choices}, not {playbook}", 2)
    overrides: dict[str, Any] = {
        "vllm_cmd": tuple(shlex.split(vllm_cmd)) if vllm_cmd else None,
        "port": port,
        "model_roots": tuple(model_root) if model_root else None,
        # Only the flag: ONCALL_ALLOW_REMOTE_CODE is the bot's key, and may share this .env.
        "remote_code": allow_remote_code,
    }
    config = settings.runner_config(**overrides)
    if startup_budget is not None:
        from dataclasses import replace

        config = replace(config, budgets=replace(config.budgets, startup_s=startup_budget))
    try:
        spec = check_spec(
            JobSpec(
                playbook=playbook,
                model=model,
                vl=vl,
                fallback=fallback,
                args=tuple(ctx.args),
                env=_env_pairs(env or []),
                no_doctor=no_doctor,
                record_golden=record_golden,
            ),
            config.model_roots,
            remote_code=config.remote_code,
        )
    except SpecError as exc:
        raise fail(str(exc), 2) from exc

    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: cancel.set())  # stop the server, then report
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())

    def show(event: Event) -> None:
        if not as_json:
            words = event.stage or event.message or ""
            if event.kind == "progress":
                words = f"{event.stage} {event.message}"
            err.print(Text(f"[{event.phase}] {words}".rstrip()), soft_wrap=True)

    if ladder:
        from bot.cli.autopilot import autopilot

        autopilot(spec, config, settings, as_json, cancel)
    result = run_playbook(spec, config, show, cancel)
    # Beside the known-good and the other mode's replies, kept under the work folder.
    result = settle_replies(result, spec, FileBook.under(config.work_dir))
    if result.first_error is not None:
        result.triage = _triaged(result, settings, quiet=as_json)
    if as_json:
        print(json.dumps(result_json(result)))
    else:
        _print(result)
    raise typer.Exit(EXIT.get(result.status, 1))


def result_json(result: RunResult) -> dict[str, object]:
    """The run object (the design's fields first, then the rest), secrets redacted."""
    cleaned: dict[str, object] = redact_data(result.model_dump(mode="json", exclude={"spec"}))
    return cleaned


def _triaged(result: RunResult, settings: Settings, quiet: bool) -> RunTriage | None:
    """The runbook's answer for the run's first error (loading the index takes seconds)."""
    from kb import KBError, load

    if not quiet and not err.is_terminal:  # a terminal sees the spinner instead
        err.print(Text("[triage] reading the log against the runbook"))
    try:
        with err.status("reading the log against the runbook", spinner="dots"):
            return result.triaged(load(settings.kb_config()).triage)
    except (KBError, OSError) as exc:
        err.print(Text(f"(no triage: {exc})"))
        return None


def _print(result: RunResult) -> None:
    # Paths and error lines are copied from here: never hard-wrapped, whatever the width.
    def say(*parts: str | tuple[str, str]) -> None:
        out.print(Text.assemble(*parts), soft_wrap=True)

    colour = "green" if result.status == "passed" else "red"
    say((f"{result.status.upper()}", f"bold {colour}"), f"  {result.verdict}")
    if result.ready_s is not None:
        say(f"ready after {result.ready_s:.1f} s")
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items() if v >= 0.05)
    if phases:
        say(f"phases: {phases}")
    if result.first_error:
        say(f"first error: {redact(result.first_error.signature)}")
    if result.triage and (top := result.triage.top):
        say(f"{result.triage.heading.lower()}: {top.title} ({top.confidence})")
    if heading := doctor_heading(result):
        say(heading)
        for line in doctor_lines(result):
            say("  " + redact(line))
    if heading := answers_heading(result):
        say(heading)
        for line in [*reply_lines(result), *check_table(result), *finding_lines(result)]:
            say("  " + redact(line))
        for headline, lines in comparison_lines(result):  # known-good, graph vs eager
            say(redact(headline))
            for line in lines:
                say("  " + redact(line))
    if result.next:
        nxt = result.next.fallback or ""
        say(f"next: {result.next.playbook} {nxt} ({result.next.reason})")
    for note in result.notes:
        say(f"note: {note}")
    if result.log_path and Path(result.log_path).is_file():  # nothing launched: no log
        say(f"log: {result.log_path}")
    if result.status != "passed":
        for line in result.log_tail[-10:]:
            say("  " + redact(line))


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


def cleartext_warning(url: str) -> str | None:
    """What to say when `url` is plain http:// to another machine: the agent's bearer token
    (and every job, log and result) would cross the network unencrypted. None for https://
    and for this host (127.0.0.0/8, ::1, localhost), where nothing leaves it."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "http":
        return None
    host = (parts.hostname or "").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
        local = address.is_loopback or (mapped is not None and mapped.is_loopback)
    except ValueError:
        local = host == "localhost"
    if local:
        return None
    return (
        f"{url} is plain http:// to another host: this agent's token, and every job, log "
        "and result, cross the network unencrypted. Put the coordinator behind https:// "
        "(a TLS proxy), or reach it through an SSH tunnel on localhost."
    )


def runner_command(
    server_url: Annotated[str, typer.Option("--server", help="The coordinator's URL.")],
    token: Annotated[
        str,
        typer.Option(envvar="ONCALL_AGENT_TOKEN", help="This agent's token."),
    ],
    label: Annotated[
        list[str] | None, typer.Option("--label", help="A label jobs can ask for (repeatable).")
    ] = None,
    vllm_cmd: Annotated[
        str | None, typer.Option(help="The command that stands for `vllm`.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port the servers it launches listen on.")
    ] = None,
    model_root: Annotated[
        list[str] | None,
        typer.Option("--model-root", metavar="DIR", help="A folder model paths may be under."),
    ] = None,
    slots: Annotated[int, typer.Option(help="Jobs at once on this host.")] = 1,
    allow_remote_code: Annotated[
        bool,
        typer.Option(
            "--allow-remote-code",
            help="Let jobs pass --trust-remote-code (the model repo's Python runs here).",
        ),
    ] = False,
    heartbeat: Annotated[float, typer.Option(help="Seconds between heartbeats.")] = 5.0,
) -> None:
    """The agent on an Ascend host: lease jobs from the coordinator and run them here."""
    import logging
    import threading as th

    from runners import AgentConfig, AuthError, RunnerAgent

    settings = load_settings()
    logging.getLogger("ascend_oncall").setLevel(logging.INFO)
    runner = settings.runner_config(
        vllm_cmd=tuple(shlex.split(vllm_cmd)) if vllm_cmd else None,
        port=port,
        model_roots=tuple(model_root) if model_root else None,
        remote_code=allow_remote_code,  # never ONCALL_ALLOW_REMOTE_CODE: that is the bot's key
    )
    stop = th.Event()
    labels, backoff = tuple(label or ()), settings.agent_backoff_s
    config = AgentConfig(server_url, token, labels, slots, heartbeat, max_backoff_s=backoff)
    agent = RunnerAgent(config, runner, stop)

    # A signal only sets `stop`; the agent runs in a thread of its own, so the main thread
    # is free to see it: busy, the agent stops its server and reports first; idle in a
    # long poll, its connection is closed and it leaves at once.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if warning := cleartext_warning(server_url):
        logging.getLogger("ascend_oncall.runner").warning("INSECURE: %s", warning)
    err.print(f"agent for {server_url}, labels {', '.join(label or []) or '(none)'}")
    refused: list[AuthError] = []

    def work() -> None:
        try:
            agent.run()
        except AuthError as exc:
            refused.append(exc)
        finally:
            stop.set()

    worker = th.Thread(target=work, name="agent")
    worker.daemon = True  # idle in a long poll when stopped: the process need not wait
    worker.start()
    while worker.is_alive() and not (stop.wait(0.5) and not agent.busy):
        pass
    if worker.is_alive():  # stopped while idle: end its long poll now
        agent.api.close()
        worker.join(IDLE_EXIT_S)
    if refused:
        raise fail(f"{refused[0]}\n{_auth_hint(str(refused[0]), labels)}")
    err.print("agent stopped")


def _auth_hint(refusal: str, labels: tuple[str, ...]) -> str:
    if "may not claim" in refusal:  # the token is good; the labels asked for are not its own
        wanted = " ".join(f"--label {label}" for label in labels)
        return (
            "Run it with only the labels its token allows (the coordinator's answer above), "
            "or, on the coordinator, give a token that allows them: "
            f"`ascend-oncall coordinator add-agent NAME {wanted}` (a new agent: its token "
            "goes in ONCALL_AGENT_TOKEN here; `coordinator revoke` the old one)."
        )
    return (
        "Make a token on the coordinator: `ascend-oncall coordinator add-agent NAME "
        "--label L` (repeatable), and put it in ONCALL_AGENT_TOKEN here."
    )
