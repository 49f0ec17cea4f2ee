"""One playbook run on this host: preflight, launch, follow startup, readiness, smoke
requests, stop, verify cleanup, classify (vllm-runtime.md section 8).

Never judged by exit code: a server whose engine died on the first request exits 0.
What is logged after the runner asked the server to stop is ignored: a clean shutdown
can log `EngineDeadError`.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from pathlib import Path

import httpx

from kb import root_cause
from runners.errors import LaunchError, SpecError
from runners.run import envinfo, smoke, vllm_process
from runners.run.after_ready import smokes
from runners.run.answer_report import QUALITY
from runners.run.examine import doctor_job, examine
from runners.run.logwatch import CAPTURING, LogFollower, read_until
from runners.run.result import Event, EventKind, FirstError, RunResult
from runners.run.run_state import Notify, Run, RunnerConfig
from runners.run.verdict import classify
from runners.spec.job import JobSpec, check, launch_plan
from runners.states import Phase, Status

TAIL_LINES = 40
PROGRESS_EVERY_S = 2.0  # capture progress events: a status shown and a heartbeat each


def run_playbook(
    spec: JobSpec,
    config: RunnerConfig,
    notify: Notify = lambda _: None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run `spec` here and return its result; never raises for what the server does."""
    cancel = cancel or threading.Event()
    run = Run(spec, config, notify)
    try:
        spec = check(spec, config.model_roots, remote_code=config.remote_code)
    except SpecError as exc:
        run.enter(Phase.DONE)
        run.result.status, run.result.verdict = Status.BLOCKED, f"refused: {exc}"
        return run.result
    run.enter(Phase.PREFLIGHT)
    if spec.playbook == "doctor":  # the examination is the whole job
        doctor_job(spec, config.vllm_cmd, config.model_roots, run.result)
        run.enter(Phase.DONE)
        return run.result
    port = config.port or vllm_process.free_port(config.host)
    blocked = _preflight(run, port, spec.model) or _examined(run, spec)
    if blocked:
        run.enter(Phase.DONE)
        run.result.status, run.result.verdict = Status.BLOCKED, f"blocked: {blocked}"
        run.result.first_error = FirstError(signature=blocked)
        return run.result
    args, env_overrides, _ = launch_plan(spec)
    where = ["--host", config.host, "--port", str(port)]
    argv = [*_absolute(config.vllm_cmd), "serve", spec.model, *where, *args]
    run.result.argv, run.result.env_overrides = argv, env_overrides
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = config.logs / f"{stamp}-{spec.playbook}-{os.getpid()}-{port}.log"
    run.result.log_path = str(log_path)
    env = vllm_process.host_environment(
        {
            "PYTHONUNBUFFERED": "1",
            "VLLM_WORKER_MULTIPROC_METHOD": "spawn",
            # vLLM's own engine timeout (600 s) must not cut our budget short.
            "VLLM_ENGINE_READY_TIMEOUT_S": str(int(config.budgets.startup_s)),
            **dict(config.extra_env),
            **env_overrides,
        },
        config.pass_env,
    )
    try:
        proc = vllm_process.launch(argv, env, log_path, config.records)
    except LaunchError as exc:
        run.enter(Phase.DONE)
        run.result.log_path = None  # nothing was launched: no log to read
        run.result.status, run.result.verdict = Status.BLOCKED, f"blocked: {exc}"
        run.result.first_error = FirstError(signature=str(exc))
        return run.result
    follower = LogFollower(log_path)
    try:
        environment = _capture_environment(run, env)
        notify(Event(kind=EventKind.LOG, phase=Phase.PREFLIGHT, message=str(log_path)))
        run.launched = time.monotonic()
        run.enter(Phase.STARTING, shlex.join(argv))
        base = f"http://{config.host}:{port}"
        with httpx.Client() as client:
            status = _start(run, proc, follower, client, base, cancel)
            if status is None:
                status = smokes(run, proc, follower, client, base, cancel)
    except BaseException:
        proc.stop(config.budgets.stop_grace_s)  # whatever went wrong here, no server stays
        raise
    stop_offset = follower.offset
    run.enter(Phase.STOPPING)
    sent = proc.stop(config.budgets.stop_grace_s)
    run.enter(Phase.CLEANUP, "signals: " + ", ".join(sent) if sent else "")
    run.result.cleanup = _verify_cleanup(proc, config, port)
    if run.result.cleanup != "clean":
        run.note(f"host not clean after the run: {run.result.cleanup}")
    run.enter(Phase.DONE)
    environment.join(timeout=120)
    _finish(run, status, follower, read_until(log_path, stop_offset))
    return run.result


def _absolute(command: tuple[str, ...]) -> list[str]:
    """The operator's command with relative paths made absolute: the server starts in an
    empty folder of its own."""
    return [
        str(Path(word).resolve()) if "/" in word and Path(word).exists() else word
        for word in command
    ]


def _preflight(run: Run, port: int, model: str) -> str | None:
    config = run.config
    # A path (a hub name never starts with /) must be a model folder on this host: else
    # `vllm serve` would take minutes to fail, or a fake one pass.
    if model.startswith("/") and not Path(model).is_dir():
        what = "is not a folder" if Path(model).exists() else "does not exist"
        return f"the model path {model} {what} on this host"
    for note in vllm_process.clean_leftovers(config.records):
        run.note(note)
    if left := vllm_process.own_leftovers(config.records):
        return f"servers of an earlier run are still alive (pids {left[:5]})"
    if busy := vllm_process.port_in_use(config.host, port):
        return busy
    return None


def _examined(run: Run, spec: JobSpec) -> str | None:
    """The doctor on the model folder: an error blocks the launch, with its runbook entry;
    warnings are notes."""
    found = examine(spec, run.config.vllm_cmd, run.config.model_roots)
    run.result.doctor, run.result.triage, run.result.next = found.report, found.triage, found.next
    for warning in found.report.warnings if found.report else ():
        run.note(f"doctor [{warning.check}]: {warning.message}")
    return found.blocked


def _capture_environment(run: Run, env: dict[str, str]) -> threading.Thread:
    """Versions and `npu-smi info`, read while the server starts (`vllm --version` alone
    takes seconds), each probe with the server's environment: the run waits for them only
    at the end."""

    def capture() -> None:
        run.result.environment = envinfo.capture(list(run.config.vllm_cmd), env)

    thread = threading.Thread(target=capture, name="environment", daemon=True)
    thread.start()
    return thread


def _start(
    run: Run,
    proc: vllm_process.Server,
    follower: LogFollower,
    client: httpx.Client,
    base: str,
    cancel: threading.Event,
) -> Status | None:
    """Wait for /health 200; None when ready, else the run's status."""
    budgets = run.config.budgets
    next_probe = 0.0
    announced = 0
    shown: tuple[int, int] | None = None
    shown_at = 0.0
    while True:
        follower.poll()
        progress = follower.capture_progress
        fresh = follower.reached[announced:]  # several stages can pass in one read
        upto = fresh.index("capturing graphs") + 1 if "capturing graphs" in fresh else 0
        for stage in fresh[:upto]:
            run.stage(stage)
        # tqdm redraws many times a second: say how far it is every few seconds, and when
        # a bar is done; after the capture is announced and before any later stage of this
        # read (on a busy host the whole capture can pass in one read).
        due = time.monotonic() - shown_at >= PROGRESS_EVERY_S
        in_capture = "capturing graphs" in follower.reached
        if in_capture and progress and progress != shown and (due or progress[0] >= progress[1]):
            run.progress("capturing graphs", *progress, follower.capture_mode)
            shown, shown_at = progress, time.monotonic()
        for stage in fresh[upto:]:
            run.stage(stage)
        announced = len(follower.reached)
        now = time.monotonic()
        if cancel.is_set():
            return Status.CANCELLED
        if proc.exited() is not None:
            follower.poll()
            run.note(f"the server exited with code {proc.exited()} before it was ready")
            return Status.FAILED
        if follower.fatal_at is not None and (now - follower.fatal_at > budgets.fatal_grace_s):
            return Status.FAILED
        if follower.api_up or now >= next_probe:
            next_probe = now + budgets.health_every_s
            if smoke.health(client, base) == 200:
                run.result.ready_s = round(now - run.launched, 3)  # from launch
                break
        elapsed = now - run.launched
        quiet = follower.quiet_for()
        window = budgets.stall_quiet_stage_s if follower.stage in CAPTURING else budgets.stall_s
        if quiet > window:
            run.note(f"no log output for {quiet:.0f} s in stage {follower.stage or 'launch'}")
            return Status.TIMEOUT
        # Past the budget, a capture that is still printing progress is given its time.
        capturing = follower.stage == "capturing graphs" and quiet < budgets.stall_s
        if elapsed > budgets.startup_s and not (capturing and elapsed < 2 * budgets.startup_s):
            run.note(f"not ready within the startup budget of {budgets.startup_s:.0f} s")
            return Status.TIMEOUT
        time.sleep(budgets.poll_s)
    run.enter(Phase.READY_CHECK)
    status, served, max_len, error = smoke.models(client, base)
    if status != 200 or served is None:
        run.note(f"/v1/models: {status} {error}".strip())
        return Status.FAILED
    run.result.served_model, run.result.max_model_len = served, max_len
    return None


def _verify_cleanup(proc: vllm_process.Server, config: RunnerConfig, port: int) -> str:
    deadline = time.monotonic() + config.budgets.cleanup_s
    while True:
        members = proc.members()
        busy = vllm_process.port_in_use(config.host, port)
        if not members and not busy:
            return "clean"
        if time.monotonic() > deadline:
            left = f"pids {members[:5]} still alive" if members else ""
            return "; ".join(x for x in (left, busy or "") if x)
        time.sleep(0.1)


def _finish(run: Run, status: Status, follower: LogFollower, log_text: str) -> None:
    result = run.result
    result.status = status
    result.stage = follower.stage or result.stage
    if follower.eager_evidence:
        result.evidence["eager"] = follower.eager_evidence
    if follower.graph_evidence:
        result.evidence["graph"] = follower.graph_evidence
    if follower.compiled_evidence:
        result.evidence["compiled"] = follower.compiled_evidence
    if follower.kv_evidence:
        result.evidence["kv_cache"] = "; ".join(follower.kv_evidence)
    lines = log_text.splitlines()
    result.log_tail = [ln for ln in lines if ln.strip()][-TAIL_LINES:]
    if status is Status.PASSED and run.spec.playbook == "eager" and not follower.eager_evidence:
        run.note("no eager-mode marker in the log: check that --enforce-eager took effect")
    if status is Status.FAILED and result.answers is not None and result.answers.failed:
        # The log of a server that answers wrongly holds no error: the replies are it.
        result.first_error = FirstError(signature=QUALITY, lines=result.answers.evidence())
    elif status in (Status.FAILED, Status.TIMEOUT):
        result.first_error = first_error(log_text)
        if result.first_error is None and follower.fatal:
            result.first_error = FirstError(signature=follower.fatal)
        for kind in ("text", "image"):
            reply = result.smoke.get(kind)
            if result.first_error is None and reply and not reply["ok"]:
                result.first_error = FirstError(signature=str(reply["error"])[:300])
    result.verdict, result.next = classify(result, lines)


def first_error(log_text: str) -> FirstError | None:
    """The root-cause line of the log (wrappers such as EngineDeadError skipped) and the
    lines around it, read by the same reader the triage uses."""
    found = root_cause(log_text)
    if found is None:
        return None
    signature, lines = found
    return FirstError(signature=signature[:500], lines=[ln[:500] for ln in lines])
