"""The requests after ready: the smoke requests (a reply must come, and the server must
stay up after it: a false-ready dies on its first request), then the deterministic probes
and the answer checks. What the runner saw goes into the result for the triage."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

import httpx

from runners.run import probes, smoke, vllm_process
from runners.run.answer_report import BAD_ANSWER_FACT, AnswerReport
from runners.run.logwatch import LogFollower
from runners.run.result import Event, EventKind
from runners.run.revision import revision
from runners.run.run_state import Run
from runners.states import Phase, Status

FIRST_REQUEST_CRASH = "@first-request-crash"


def smokes(
    run: Run,
    proc: vllm_process.Server,
    follower: LogFollower,
    client: httpx.Client,
    base: str,
    cancel: threading.Event,
) -> Status:
    """Each smoke request in turn; the run's status ("failed", "cancelled") or the answer
    checks' verdict."""
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
                    return Status.CANCELLED
            reply = replies[kind] = future.result()
            run.result.smoke[kind] = reply.to_dict()
            # A 200 that is not an answer (empty, not JSON) is for the answer checks.
            if not reply.ok and reply.http_status != 200:
                _settle(follower, budgets.fatal_grace_s, proc, cancel)
                _observe_request_failure(run, kind, reply, follower.fatal_count > fatal_before)
                return Status.FAILED
            # A reply is not enough: the engine may die right after it (false-ready).
            why = f"{budgets.settle_s:.0f} s: the server must stay up after answering"
            run.notify(
                Event(kind=EventKind.PROGRESS, phase=run.phase, stage="settling", message=why)
            )
            deadline = time.monotonic() + budgets.settle_s
            while time.monotonic() < deadline:
                follower.poll()
                if follower.fatal_count > fatal_before or proc.exited() is not None:
                    run.note("the server failed right after answering")
                    _settle(follower, budgets.fatal_grace_s, proc, cancel)
                    _observe_request_failure(run, kind, reply, True)
                    return Status.FAILED
                if cancel.is_set():
                    return Status.CANCELLED
                time.sleep(budgets.poll_s)
            if smoke.health(client, base) != 200:
                run.note("/health no longer answers 200 after the request")
                return Status.FAILED
        return _judge_answers(run, pool, follower, client, base, replies, cancel)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _judge_answers(
    run: Run,
    pool: ThreadPoolExecutor,
    follower: LogFollower,
    client: httpx.Client,
    base: str,
    replies: dict[str, smoke.Reply],
    cancel: threading.Event,
) -> Status:
    """A 200 is not an answer: the deterministic probes and the answer checks
    (runners.run.probes) decide whether the run passes."""
    served, spec = run.result.served_model or run.spec.model, run.spec
    why = "deterministic probes and answer checks"
    run.notify(Event(kind=EventKind.PROGRESS, phase=run.phase, stage="answer checks", message=why))
    future: Future[AnswerReport] = pool.submit(
        probes.ask_all, client, base, served, spec.model, run.result.argv, replies["text"],
        replies.get("image"), run.config.budgets.request_s,
    )  # fmt: skip
    while not wait([future], timeout=run.config.budgets.poll_s).done:
        follower.poll()
        if cancel.is_set():
            return Status.CANCELLED
    report = run.result.answers = future.result()
    # What the replies are filed by (the host's disk): compared later, where they are kept.
    report.revision = revision(spec.model, spec.args)
    if report.failed:
        run.result.facts.append(BAD_ANSWER_FACT)
        return Status.FAILED
    if report.failing and not report.judged:
        run.note(report.not_judged)
    return Status.PASSED


def _observe_request_failure(run: Run, kind: str, reply: smoke.Reply, died: bool) -> None:
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
    follower: LogFollower, grace_s: float, proc: vllm_process.Server, cancel: threading.Event
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
