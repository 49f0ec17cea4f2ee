"""`ascend-oncall runner`: the agent on an Ascend host, polling a coordinator for jobs."""

from __future__ import annotations

import shlex
import signal
from typing import Annotated

import typer

from bot.cli.common import err, fail, load_settings

IDLE_EXIT_S = 2.0  # an idle agent asked to stop leaves within this


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
