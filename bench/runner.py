"""Runner benchmark against the fake `vllm` on loopback; prints figures, asserts nothing.

    python bench/runner.py [--quick] [--runs 10] [--time-scale 0.2] [--jobs 50] [--agents 5]
                           [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

1. ready -> noticed: from the server's first /health 200 (a side thread polls every 20 ms)
   to run_playbook's "ready" phase event; in this process, default Budgets.
2. crash -> verdict: fake/false-ready-fia answers the first chat request with a 500; from
   `EngineCore encountered a fatal error` in its log (read every 20 ms) to run_playbook
   returning; default Budgets.
3. per-job overhead: run_playbook (smoke, fake/healthy, Budgets(settle_s=0)) minus the same
   server run by hand right after (new session, /health every 20 ms, one chat request,
   SIGINT to the group, wait until the group is gone).
4. fleet: `ascend-oncall coordinator` and agent processes (--heartbeat 1, a runner dir each,
   as on separate hosts) drain jobs queued at once (fake/healthy, FAKE_VLLM_TIME_SCALE=0.05,
   ONCALL_SETTLE_S=0): every job final, each leased exactly once (its "leased by" events),
   no server left. SQLite in a temp dir, or --database-url in a throwaway schema.

The steps between phase events say where the time goes. --time-scale only shortens the
fake's startup in 1-3: no figure measured there depends on it.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from runners import Budgets, Event, JobSpec, RunnerConfig, run_playbook  # noqa: E402
from runners.run.vllm_process import free_port, group_members  # noqa: E402
from runners.store.jobstore import open_jobs  # noqa: E402

FAKE_CMD = (sys.executable, str(ROOT / "tests/fakes/fake_vllm.py"))
PASS_ENV = ("FAKE_VLLM_*",)  # the server's environment is an allow-list: the fake's knobs
CLI = str(Path(sys.executable).with_name("ascend-oncall"))
FATAL = b"EngineCore encountered a fatal error"
LEASE_S = 10.0
B = Budgets()
# What each step between phase events waits for, and the setting that bounds it.
WAITS = {
    "preflight -> starting": "leftover and port checks, the launch; `<vllm_cmd> --version` if envinfo runs inline",
    "starting -> ready": f"server startup; /health probed every poll_s={B.poll_s} s once the log says ready",
    "ready -> text smoke": "GET /v1/models",
    "text smoke -> stopping": f"the chat reply, polled every poll_s={B.poll_s} s; then settle_s",
    "stopping -> cleanup": f"SIGINT, then the group polled every 50 ms (stop_grace_s={B.stop_grace_s:.0f} per signal)",
    "fatal line -> stopping": f"the server exiting or its log quiet for 1 s, bounded by fatal_grace_s={B.fatal_grace_s:.0f}",
}
Steps = dict[str, float]
SAME = {
    "starting -> ready": "ready",
    "text smoke -> stopping": "chat",
    "stopping -> cleanup": "stop",
}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def wait_for(what: Callable[[], object], timeout: float, why: str, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s: {why}")
        time.sleep(every)


def healthy(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url, timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


class Watch:
    """One run_playbook call seen from outside: its phase events, the server's first /health
    200 and the first fatal line of its log (each polled every 20 ms by a side thread)."""

    def __init__(self) -> None:
        self.port, self.stop = free_port(), threading.Event()
        self.phases: dict[str, float] = {}
        self.first_200: float | None = None
        self.fatal_seen: float | None = None
        self.threads: list[threading.Thread] = []
        self.called = self.returned = 0.0

    def notify(self, event: Event) -> None:
        if event.kind == "log":  # just launched: the fake takes far longer than this to bind
            for target in (self._health, self._log):
                self.threads.append(threading.Thread(target=target, args=(event.message,)))
                self.threads[-1].start()
        elif event.kind == "phase":
            self.phases.setdefault(event.phase, event.at)

    def _health(self, _: str) -> None:
        with httpx.Client() as client:
            while self.first_200 is None and not self.stop.wait(0.02):
                if healthy(client, f"http://127.0.0.1:{self.port}/health"):
                    self.first_200 = time.time()

    def _log(self, path: str) -> None:
        while self.fatal_seen is None and not self.stop.wait(0.02):
            with contextlib.suppress(OSError):
                if FATAL in Path(path).read_bytes():
                    self.fatal_seen = time.time()

    def steps(self, *names: str) -> Steps:
        """Seconds between consecutive phase events, the last one to run_playbook's return."""
        at = [self.phases.get(n, self.returned) for n in names] + [self.returned]
        pairs = zip(names, [*names[1:], "return"], itertools.pairwise(at), strict=True)
        return {f"{a} -> {b}": y - x for a, b, (x, y) in pairs}


Measure = Callable[[Watch], tuple[float, Steps] | None]


def series(
    runs: int, model: str, budgets: Budgets, work: Path, want: str, measure: Measure
) -> tuple[list[float], list[Steps]]:
    """run_playbook `runs` times; `measure` of each run that ends in status `want`."""
    values, parts = [], []
    for _ in range(runs):
        watch = Watch()
        config = RunnerConfig(
            vllm_cmd=FAKE_CMD, port=watch.port, work_dir=work, budgets=budgets, pass_env=PASS_ENV
        )
        watch.called = time.time()
        try:
            result = run_playbook(
                JobSpec(playbook="smoke", model=f"fake/{model}"), config, watch.notify
            )
        finally:
            watch.returned = time.time()
            watch.stop.set()
            for thread in watch.threads:
                thread.join(5)
        if (got := measure(watch) if result.status == want else None) is None:
            print(f"   {model} run not usable: {result.status} {result.verdict} {result.notes}")
            continue
        values.append(got[0])
        parts.append(got[1])
    return values, parts


def ladder_overhead(runs: int, work: Path) -> None:
    """What the autopilot adds per rung: a ladder (smoke fails capture, hccl-aiv passes on
    dummy weights, then on the real ones) against the same jobs run one after the other by
    hand."""
    from runners import run_ladder

    config = RunnerConfig(vllm_cmd=FAKE_CMD, port=0, work_dir=work, budgets=B, pass_env=PASS_ENV)
    base = JobSpec(playbook="smoke", model="fake/capture-507903")
    extra, rungs = [], 0
    for _ in range(runs):
        started = time.monotonic()
        ladder = run_ladder(base, config)
        ladder_s = time.monotonic() - started
        started = time.monotonic()
        for step in ladder.steps:  # the same jobs, by hand
            run_playbook(step.spec, config)
        by_hand_s = time.monotonic() - started
        if ladder.done.outcome == "works":
            rungs = len(ladder.steps)
            extra.append((ladder_s - by_hand_s) / rungs)
    if extra:
        print(
            f"4. autopilot overhead per rung over the same jobs by hand ({len(extra)} ladders of "
            f"{rungs} rungs): p50 {ms(percentile(extra, 50))}, max {ms(max(extra))}   "
            "target <= 1 s"
        )


def by_hand(work: Path) -> Steps:
    """The fake served by hand: launch, ready, one chat request, stop; seconds per step."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [*FAKE_CMD, "serve", "fake/healthy", "--host", "127.0.0.1", "--port", str(port)]
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with (work / f"hand-{port}.log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client() as client:
            wait_for(lambda: proc.poll() is not None or healthy(client, f"{base}/health"), 60, "up")
            t1 = time.monotonic()
            body = {"model": "fake/healthy", "messages": [{"role": "user", "content": "Hi"}]}
            status = client.post(f"{base}/v1/chat/completions", json=body, timeout=30).status_code
            t2 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        wait_for(lambda: not group_members(proc.pid), 30, "the engine exits")
        if status != 200:
            raise RuntimeError(f"chat request by hand: HTTP {status}")
        return {"ready": t1 - t0, "chat": t2 - t1, "stop": time.monotonic() - t2}
    finally:
        if group_members(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def summary(
    title: str, values: list[float], target: float, rows: list[Steps] | None = None
) -> None:
    top = max(values)
    print(
        f"{title} ({len(values)} runs): p50 {ms(statistics.median(values))}  p95 {ms(percentile(values, 95))}  max {ms(top)}   target <= {target:.0f} s: {'ok' if top <= target else 'MISSED'}"
    )
    if rows:
        p50 = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print("   steps (p50): " + ", ".join(f"{k} {ms(v)}" for k, v in p50.items()))
        if (most := max(p50, key=p50.__getitem__)) in WAITS:
            print(f"   largest step: {most} {ms(p50[most])}: {WAITS[most]}")


def ready(w: Watch) -> tuple[float, Steps] | None:
    return (w.phases["ready"] - w.first_200, {}) if w.first_200 and "ready" in w.phases else None


def crash(w: Watch) -> tuple[float, Steps] | None:
    if w.fatal_seen is None:
        return None
    steps = {"fatal line -> stopping": w.phases["stopping"] - w.fatal_seen}
    return w.returned - w.fatal_seen, steps | w.steps("stopping", "cleanup", "done")


def figures(runs: int, work: Path) -> None:
    lags, _ = series(runs, "healthy", Budgets(settle_s=0), work, "passed", ready)
    if lags:
        summary("1. ready -> noticed", lags, 1.0)
        print(
            f"   /health is probed every poll_s={B.poll_s} s once `Application startup complete.` is read, else every health_every_s={B.health_every_s} s"
        )
    took, parts = series(runs, "false-ready-fia", Budgets(), work, "failed", crash)
    if took:
        summary("2. crash -> verdict, default Budgets", took, 2.0, parts)
        print(f"   settle_s (default {B.settle_s:.0f} s) applies only after a passing reply")
    hand = [by_hand(work)]  # and a playbook run first: warm-ups, not counted

    def overhead(w: Watch) -> tuple[float, Steps]:
        hand.append(by_hand(work))  # alternates with the playbook runs
        phases = ("preflight", "starting", "ready", "text smoke", "stopping", "cleanup", "done")
        by_step = {k: v - hand[-1].get(SAME.get(k, ""), 0.0) for k, v in w.steps(*phases).items()}
        return w.returned - w.called - sum(hand[-1].values()), by_step

    extra, parts = series(runs + 1, "healthy", Budgets(settle_s=0), work, "passed", overhead)
    if extra[1:]:
        summary("3. per-job overhead, settle_s=0 (steps: less by hand)", extra[1:], 1.0, parts[1:])
        print(
            f"   by hand (p50): {', '.join(f'{k} {ms(statistics.median(h[k] for h in hand[2:]))}' for k in hand[0])}; not counted: settle_s (default {B.settle_s:.0f} s), a deliberate wait after each passing reply"
        )


@contextlib.contextmanager
def database(url: str | None, tmp: Path) -> Iterator[str]:
    if not url:
        yield f"sqlite:///{tmp / 'oncall.db'}"
        return
    schema, admin = f"bench_{uuid.uuid4().hex[:12]}", create_engine(url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def stop_all(procs: dict[str, subprocess.Popen[bytes]], tmp: Path) -> tuple[list[str], int]:
    """SIGTERM each process started here, SIGKILL what is still alive 15 s later; then
    SIGKILL any server group an agent left behind (found by its launch record). Returns the
    processes that needed SIGKILL and how many server groups were left."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline, killed = time.monotonic() + 15, []
    for name, proc in procs.items():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed.append(name)
            proc.kill()
            proc.wait(10)
    left = [int(json.loads(r.read_text())["pgid"]) for r in tmp.glob("runner-*/servers/*.json")]
    left = [pgid for pgid in left if group_members(pgid)]
    for pgid in left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    return killed, len(left)


def fleet(jobs: int, agents: int, url: str, tmp: Path, timeout: float) -> None:
    store, port = open_jobs(url, lease_s=LEASE_S), free_port()
    server = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONCALL_", "FAKE_VLLM_"))}
    env |= {"ONCALL_DATABASE_URL": url, "ONCALL_LEASE_S": str(LEASE_S), "ONCALL_SETTLE_S": "0"}
    env |= {"ONCALL_VLLM_CMD": shlex.join(FAKE_CMD), "ONCALL_RUNNER_PORT": "0"}
    env |= {"FAKE_VLLM_TIME_SCALE": "0.05", "ONCALL_RUNNER_PASS_ENV": "FAKE_VLLM_*"}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ids: list[int] = []

    def start(name: str, *args: str, **extra: str) -> None:
        with (tmp / f"{name}.log").open("ab") as out:
            procs[name] = subprocess.Popen([CLI, *args], env=env | extra, stdout=out, stderr=out)

    def all_final() -> bool:
        return all((j := store.job(i)) and j.status.final for i in ids)

    t0 = time.monotonic()
    try:
        start("coordinator", "coordinator", "--port", str(port))
        with httpx.Client() as client:
            wait_for(lambda: healthy(client, f"{server}/healthz"), 60, "coordinator up", 0.1)
        for i in range(agents):
            token, where = store.add_agent(f"agent-{i}"), str(tmp / f"runner-{i}")
            args = ("--server", server, "--token", token, "--heartbeat", "1")
            start(f"agent-{i}", "runner", *args, ONCALL_RUNNER_DIR=where)
        wait_for(lambda: all(a.hostname for a, _ in store.agents()), 60, "agents registered", 0.1)
        setup, t0 = time.monotonic() - t0, time.monotonic()
        ids = [
            store.submit(JobSpec(playbook="smoke", model="fake/healthy")).id for _ in range(jobs)
        ]
        with contextlib.suppress(TimeoutError):
            wait_for(all_final, timeout, "all jobs final", 0.25)
        wall, finished = time.monotonic() - t0, all_final()
    finally:
        t1 = time.monotonic()
        killed, left = stop_all(procs, tmp)
        teardown = time.monotonic() - t1
    done = [job for i in ids if (job := store.job(i))]
    statuses = Counter(j.status.value for j in done)
    events = {j.id: store.events(j.id) for j in done}
    leases = {
        i: [e.at for e in ev if e.message.startswith("leased by")] for i, ev in events.items()
    }
    twice = {i: len(v) for i, v in leases.items() if len(v) != 1}
    finals = sum(j.status.final for j in done)
    ok = finished and finals == jobs and not twice and not statuses.get("lost") and not left
    print(
        f"5. fleet: coordinator + {agents} agents (up in {setup:.1f} s; stopped in {teardown:.1f} s, SIGKILL needed: {', '.join(killed) or 'none'}), {jobs} jobs, {url.split(':')[0]}, lease {LEASE_S:.0f} s\n"
        f"   final {finals}/{jobs}; statuses {dict(statuses)}; leased other than once: {twice or 'none'}; servers left: {left}: {'ok' if ok else 'MISSED'}\n"
        f"   wall {wall:.1f} s, {jobs / wall * 60:.0f} jobs/min; jobs per agent {dict(sorted(Counter(str(j.agent) for j in done).items()))}"
    )
    spans: dict[str, list[tuple[float, float]]] = {}
    for j in done:
        verdicts = [e.at for e in events[j.id] if e.kind == "verdict"]
        if j.agent and verdicts and leases[j.id]:
            spans.setdefault(j.agent, []).append((leases[j.id][0], verdicts[0]))
    took = [b - a for s in spans.values() for a, b in s]
    gaps = [b[0] - a[1] for s in spans.values() for a, b in itertools.pairwise(sorted(s))] or [0]
    playbook = [sum(j.result.timings.values()) for j in done if j.result]
    if took and playbook:
        print(
            f"   per job p50: lease -> verdict stored {statistics.median(took):.2f} s, of which playbook phases {statistics.median(playbook):.2f} s; verdict -> the agent's next lease p50 {ms(statistics.median(gaps))}, max {ms(max(gaps))}\n"
            f"   never idle, {agents} agents would do {agents * 60 / statistics.mean(took):.0f} jobs/min at this lease -> verdict time"
        )
    store.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 runs each, 15 fleet jobs")
    parser.add_argument("--runs", type=int, default=10, help="runs for figures 1-3")
    parser.add_argument("--time-scale", type=float, default=0.2, help="FAKE_VLLM_TIME_SCALE, 1-3")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--database-url", help="fleet database (default: SQLite in a temp dir)")
    parser.add_argument("--timeout", type=float, default=300.0, help="fleet: seconds for all jobs")
    args = parser.parse_args()
    runs, jobs = (3, 15) if args.quick else (args.runs, args.jobs)
    for name in ("FAKE_VLLM_SCENARIO", "FAKE_VLLM_IGNORE_SIGINT", "FAKE_VLLM_IGNORE_SIGTERM"):
        os.environ.pop(name, None)
    os.environ["FAKE_VLLM_TIME_SCALE"] = str(args.time_scale)
    print(f"{os.cpu_count()} cores; fake vllm time scale {args.time_scale} in 1-3")
    with tempfile.TemporaryDirectory() as tmp:
        figures(runs, Path(tmp) / "runner")
        ladder_overhead(min(runs, 5), Path(tmp) / "runner")
        with database(args.database_url, Path(tmp)) as url:
            fleet(jobs, args.agents, url, Path(tmp), args.timeout)


if __name__ == "__main__":
    main()
