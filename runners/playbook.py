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
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from kb import root_cause
from runners import envinfo, probes, server, smoke
from runners.answers import BAD_ANSWER_FACT, QUALITY, AnswerReport
from runners.errors import LaunchError, SpecError
from runners.examine import doctor_job, examine
from runners.logwatch import CAPTURING, LogFollower, read_until
from runners.result import Event, FirstError, RunResult
from runners.revision import revision
from runners.spec import JobSpec, check, launch_plan
from runners.states import Phase, advance
from runners.verdict import classify

TAIL_LINES = 40
PROGRESS_EVERY_S = 2.0  # capture progress events: a Slack status and a heartbeat each


@dataclass(frozen=True)
class Budgets:
    startup_s: float = 1800.0  # vllm-ascend CI gives big models 30 min
    stall_s: float = 900.0  # no new log bytes for this long: stuck
    stall_quiet_stage_s: float = 1200.0  # loading weights and capturing graphs print little
    fatal_grace_s: float = 60.0  # after a fatal line, let the whole traceback land
    request_s: float = 300.0  # the first request may compile or replay graphs lazily
    settle_s: float = 5.0  # after a smoke reply: no fatal line, /health still 200
    stop_grace_s: float = 30.0  # per signal: SIGINT, then SIGTERM, then SIGKILL
    cleanup_s: float = 120.0
    poll_s: float = 0.1  # log and process checks
    health_every_s: float = 0.5


@dataclass(frozen=True)
class RunnerConfig:
    vllm_cmd: tuple[str, ...] = ("vllm",)
    host: str = "127.0.0.1"
    port: int = 8000  # 0: a free port each run
    work_dir: Path = field(default_factory=lambda: Path.home() / ".local/state/ascend-oncall")
    model_roots: tuple[str, ...] = ()
    remote_code: bool = False  # jobs may pass --trust-remote-code
    extra_env: tuple[tuple[str, str], ...] = ()  # this slot's own (HCCL_IF_BASE_PORT)
    # More of the host's environment for the server: NAME or PREFIX* (never a secret).
    pass_env: tuple[str, ...] = ()
    budgets: Budgets = field(default_factory=Budgets)

    @property
    def records(self) -> Path:
        return self.work_dir / "servers"

    @property
    def logs(self) -> Path:
        return self.work_dir / "logs"


Notify = Callable[[Event], None]
FIRST_REQUEST_CRASH = "@first-request-crash"


class _Run:
    """The state of one run; `Playbook.run` drives it."""

    def __init__(self, spec: JobSpec, config: RunnerConfig, notify: Notify) -> None:
        self.spec, self.config, self.notify = spec, config, notify
        self.phase = Phase.QUEUED
        self.phase_t = self.launched = time.monotonic()
        self.result = RunResult(playbook=spec.playbook, status="failed", phase="queued", spec=spec)

    def enter(self, phase: Phase, message: str = "") -> None:
        now = time.monotonic()
        self.result.timings[str(self.phase)] = round(
            self.result.timings.get(str(self.phase), 0.0) + now - self.phase_t, 3
        )
        self.phase, self.phase_t = advance(self.phase, phase), now
        if phase not in (Phase.STOPPING, Phase.CLEANUP, Phase.DONE):
            self.result.phase = str(phase)
        self.notify(Event(kind="phase", phase=str(phase), message=message))

    def stage(self, stage: str) -> None:
        self.result.stage = stage
        self.notify(Event(kind="stage", phase=str(self.phase), stage=stage))

    def progress(self, stage: str, done: int, total: int, what: str = "") -> None:
        message = f"{done}/{total}" + (f" ({what})" if what else "")
        self.notify(Event(kind="progress", phase=str(self.phase), stage=stage, message=message))

    def note(self, message: str) -> None:
        self.result.notes.append(message)
        self.notify(Event(kind="note", phase=str(self.phase), message=message))


def run_playbook(
    spec: JobSpec,
    config: RunnerConfig,
    notify: Notify = lambda _: None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run `spec` here and return its result; never raises for what the server does."""
    cancel = cancel or threading.Event()
    run = _Run(spec, config, notify)
    try:
        spec = check(spec, config.model_roots, remote_code=config.remote_code)
    except SpecError as exc:
        run.enter(Phase.DONE)
        run.result.status, run.result.verdict = "blocked", f"refused: {exc}"
        return run.result
    run.enter(Phase.PREFLIGHT)
    if spec.playbook == "doctor":  # the examination is the whole job
        doctor_job(spec, config.vllm_cmd, config.model_roots, run.result)
        run.enter(Phase.DONE)
        return run.result
    port = config.port or server.free_port(config.host)
    blocked = _preflight(run, port, spec.model) or _examined(run, spec)
    if blocked:
        run.enter(Phase.DONE)
        run.result.status, run.result.verdict = "blocked", f"blocked: {blocked}"
        run.result.first_error = FirstError(signature=blocked)
        return run.result
    args, env_overrides, _ = launch_plan(spec)
    where = ["--host", config.host, "--port", str(port)]
    argv = [*_absolute(config.vllm_cmd), "serve", spec.model, *where, *args]
    run.result.argv, run.result.env_overrides = argv, env_overrides
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = config.logs / f"{stamp}-{spec.playbook}-{os.getpid()}-{port}.log"
    run.result.log_path = str(log_path)
    env = server.host_environment(
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
        proc = server.launch(argv, env, log_path, config.records)
    except LaunchError as exc:
        run.enter(Phase.DONE)
        run.result.log_path = None  # nothing was launched: no log to read
        run.result.status, run.result.verdict = "blocked", f"blocked: {exc}"
        run.result.first_error = FirstError(signature=str(exc))
        return run.result
    follower = LogFollower(log_path)
    try:
        environment = _capture_environment(run, env)
        notify(Event(kind="log", phase=str(Phase.PREFLIGHT), message=str(log_path)))
        run.launched = time.monotonic()
        run.enter(Phase.STARTING, shlex.join(argv))
        base = f"http://{config.host}:{port}"
        with httpx.Client() as client:
            status = _start(run, proc, follower, client, base, cancel)
            if status is None:
                status = _smokes(run, proc, follower, client, base, cancel)
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


def _preflight(run: _Run, port: int, model: str) -> str | None:
    config = run.config
    # A path (a hub name never starts with /) must be a model folder on this host: else
    # `vllm serve` would take minutes to fail, or a fake one pass.
    if model.startswith("/") and not Path(model).is_dir():
        what = "is not a folder" if Path(model).exists() else "does not exist"
        return f"the model path {model} {what} on this host"
    for note in server.clean_leftovers(config.records):
        run.note(note)
    if left := server.own_leftovers(config.records):
        return f"servers of an earlier run are still alive (pids {left[:5]})"
    if busy := server.port_in_use(config.host, port):
        return busy
    return None


def _examined(run: _Run, spec: JobSpec) -> str | None:
    """The doctor on the model folder: an error blocks the launch, with its runbook entry;
    warnings are notes."""
    found = examine(spec, run.config.vllm_cmd, run.config.model_roots)
    run.result.doctor, run.result.triage, run.result.next = found.report, found.triage, found.next
    for warning in found.report.warnings if found.report else ():
        run.note(f"doctor [{warning.check}]: {warning.message}")
    return found.blocked


def _capture_environment(run: _Run, env: dict[str, str]) -> threading.Thread:
    """Versions and `npu-smi info`, read while the server starts (`vllm --version` alone
    takes seconds), each probe with the server's environment: the run waits for them only
    at the end."""

    def capture() -> None:
        run.result.environment = envinfo.capture(list(run.config.vllm_cmd), env)

    thread = threading.Thread(target=capture, name="environment", daemon=True)
    thread.start()
    return thread


def _start(
    run: _Run,
    proc: server.Server,
    follower: LogFollower,
    client: httpx.Client,
    base: str,
    cancel: threading.Event,
) -> str | None:
    """Wait for /health 200; None when ready, else the run's status."""
    budgets = run.config.budgets
    next_probe = 0.0
    announced = 0
    shown: tuple[int, int] | None = None
    shown_at = 0.0
    while True:
        follower.poll()
        progress = follower.capture_progress
        in_capture = "capturing graphs" in follower.reached[:announced]
        # tqdm redraws many times a second: say how far it is every few seconds, and when
        # a bar is done; before any later stage of this read is announced.
        due = time.monotonic() - shown_at >= PROGRESS_EVERY_S
        if in_capture and progress and progress != shown and (due or progress[0] >= progress[1]):
            run.progress("capturing graphs", *progress, follower.capture_mode)
            shown, shown_at = progress, time.monotonic()
        for stage in follower.reached[announced:]:  # several can pass in one read
            run.stage(stage)
        announced = len(follower.reached)
        now = time.monotonic()
        if cancel.is_set():
            return "cancelled"
        if proc.exited() is not None:
            follower.poll()
            run.note(f"the server exited with code {proc.exited()} before it was ready")
            return "failed"
        if follower.fatal_at is not None and (now - follower.fatal_at > budgets.fatal_grace_s):
            return "failed"
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
            return "timeout"
        # Past the budget, a capture that is still printing progress is given its time.
        capturing = follower.stage == "capturing graphs" and quiet < budgets.stall_s
        if elapsed > budgets.startup_s and not (capturing and elapsed < 2 * budgets.startup_s):
            run.note(f"not ready within the startup budget of {budgets.startup_s:.0f} s")
            return "timeout"
        time.sleep(budgets.poll_s)
    run.enter(Phase.READY_CHECK)
    status, served, max_len, error = smoke.models(client, base)
    if status != 200 or served is None:
        run.note(f"/v1/models: {status} {error}".strip())
        return "failed"
    run.result.served_model, run.result.max_model_len = served, max_len
    return None


def _smokes(
    run: _Run,
    proc: server.Server,
    follower: LogFollower,
    client: httpx.Client,
    base: str,
    cancel: threading.Event,
) -> str:
    kinds = [("text", Phase.SMOKE_TEXT)] + ([("image", Phase.SMOKE_IMAGE)] if run.spec.vl else [])
    served = run.result.served_model or run.spec.model
    budgets = run.config.budgets
    # A request in flight when the run is cancelled is not waited for: stopping the server
    # ends it (the pool is not joined).
    pool = ThreadPoolExecutor(max_workers=1)
    replies: dict[str, smoke.Reply] = {}
    try:
        for kind, phase in kinds:
            run.enter(phase)
            fatal_before = follower.fatal_count
            future: Future[smoke.Reply] = pool.submit(
                smoke.chat, client, base, served, kind == "image", budgets.request_s
            )
            while not wait([future], timeout=budgets.poll_s).done:
                follower.poll()
                if cancel.is_set():
                    return "cancelled"
            reply = replies[kind] = future.result()
            run.result.smoke[kind] = reply.to_dict()
            # A 200 that is not an answer (empty, not JSON) is for the answer checks.
            if not reply.ok and reply.http_status != 200:
                _settle(follower, budgets.fatal_grace_s, proc, cancel)
                _observe_request_failure(run, kind, reply, follower.fatal_count > fatal_before)
                return "failed"
            # A reply is not enough: the engine may die right after it (false-ready).
            why = f"{budgets.settle_s:.0f} s: the server must stay up after answering"
            run.notify(Event(kind="progress", phase=str(run.phase), stage="settling", message=why))
            deadline = time.monotonic() + budgets.settle_s
            while time.monotonic() < deadline:
                follower.poll()
                if follower.fatal_count > fatal_before or proc.exited() is not None:
                    run.note("the server failed right after answering")
                    _settle(follower, budgets.fatal_grace_s, proc, cancel)
                    _observe_request_failure(run, kind, reply, True)
                    return "failed"
                if cancel.is_set():
                    return "cancelled"
                time.sleep(budgets.poll_s)
            if smoke.health(client, base) != 200:
                run.note("/health no longer answers 200 after the request")
                return "failed"
        return _judge_answers(run, pool, follower, client, base, replies, cancel)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _judge_answers(
    run: _Run,
    pool: ThreadPoolExecutor,
    follower: LogFollower,
    client: httpx.Client,
    base: str,
    replies: dict[str, smoke.Reply],
    cancel: threading.Event,
) -> str:
    """A 200 is not an answer: the deterministic probes and the answer checks
    (runners.probes) decide whether the run passes."""
    served, spec = run.result.served_model or run.spec.model, run.spec
    why = "deterministic probes and answer checks"
    run.notify(Event(kind="progress", phase=str(run.phase), stage="answer checks", message=why))
    future: Future[AnswerReport] = pool.submit(
        probes.ask_all, client, base, served, spec.model, run.result.argv, replies["text"],
        replies.get("image"), run.config.budgets.request_s,
    )  # fmt: skip
    while not wait([future], timeout=run.config.budgets.poll_s).done:
        follower.poll()
        if cancel.is_set():
            return "cancelled"
    report = run.result.answers = future.result()
    # What the replies are filed by (the host's disk): compared later, where they are kept.
    report.revision = revision(spec.model, spec.args)
    if report.failed:
        run.result.facts.append(BAD_ANSWER_FACT)
        return "failed"
    if report.failing and not report.judged:
        run.note(report.not_judged)
    return "passed"


def _observe_request_failure(run: _Run, kind: str, reply: smoke.Reply, died: bool) -> None:
    """Say what the runner saw: ready, then this request failed (and the engine with it)."""
    after = time.monotonic() - run.launched - (run.result.ready_s or 0.0)
    status = f"HTTP {reply.http_status}" if reply.http_status else "no HTTP answer"
    first = kind == "text"  # the text request is always the first one sent
    which = "the first request (text)" if first else f"the {kind} request"
    run.result.observed.append(f"ready after {run.result.ready_s or 0:.1f} s")
    run.result.observed.append(f"{which} was sent and got {status} {after:.1f} s after ready")
    if died:
        run.result.observed.append("the engine died on that request")
    flags = [a for a in run.result.argv if a.startswith("--")]
    if flags:
        run.result.observed.append("serve flags: " + " ".join(flags)[:300])
    # A server that comes up and then fails its first request is the false-ready case,
    # whatever the log's last error names.
    if first and (died or (reply.http_status or 0) >= 500 or reply.http_status is None):
        run.result.facts.append(FIRST_REQUEST_CRASH)


def _settle(
    follower: LogFollower, grace_s: float, proc: server.Server, cancel: threading.Event
) -> None:
    """Let a dying server finish writing its traceback (it exits on its own, or the log
    goes quiet for a second), bounded by `grace_s`."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not cancel.is_set():
        follower.poll()
        if proc.exited() is not None or follower.quiet_for() > 1.0:
            break
        time.sleep(0.05)
    follower.poll()


def _verify_cleanup(proc: server.Server, config: RunnerConfig, port: int) -> str:
    deadline = time.monotonic() + config.budgets.cleanup_s
    while True:
        members = proc.members()
        busy = server.port_in_use(config.host, port)
        if not members and not busy:
            return "clean"
        if time.monotonic() > deadline:
            left = f"pids {members[:5]} still alive" if members else ""
            return "; ".join(x for x in (left, busy or "") if x)
        time.sleep(0.1)


def _finish(run: _Run, status: str, follower: LogFollower, log_text: str) -> None:
    result = run.result
    result.status = status
    result.stage = follower.stage or result.stage
    if follower.eager_evidence:
        result.evidence["eager"] = follower.eager_evidence
    if follower.graph_evidence:
        result.evidence["graph"] = follower.graph_evidence
    if follower.compiled_evidence:
        result.evidence["compiled"] = follower.compiled_evidence
    lines = log_text.splitlines()
    result.log_tail = [ln for ln in lines if ln.strip()][-TAIL_LINES:]
    if status == "passed" and run.spec.playbook == "eager" and not follower.eager_evidence:
        run.note("no eager-mode marker in the log: check that --enforce-eager took effect")
    if status == "failed" and result.answers is not None and result.answers.failed:
        # The log of a server that answers wrongly holds no error: the replies are it.
        result.first_error = FirstError(signature=QUALITY, lines=result.answers.evidence())
    elif status in ("failed", "timeout"):
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
