"""Make whole logs of a REAL `vllm serve` (vLLM's CPU build) failing in realistic ways.

Each recipe writes a tiny model folder (tests/real_vllm/tiny_model.py plus one defect), runs the
real server on 127.0.0.1 (one at a time, in its own process group, bounded), sends requests where
the recipe needs them, stops the whole group, and appends one row to a JSONL corpus for the triage
bot's real-log evaluation:

    python tests/real_vllm/make_corpus_logs.py --vllm .vllm-cpu/bin/vllm \
        --out tests/data/real/vllm_cpu.jsonl [--only RECIPE ...]

Labels are runbook entry ids (/work/shared/runbooks/vllm-ascend-troubleshooting.md) or null.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a plain script (`python tests/real_vllm/make_corpus_logs.py`), so the repo root is not on
# sys.path by itself; tiny_model is imported through it so mypy and ruff see the same module.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.real_vllm.corpus_recipes import RECIPES, Recipe  # noqa: E402

# Launch to ready: 20 s eager / 35 s compiled alone on 2 cores; under the shared machine's load
# eager took up to 150 s and compiled more than 180 s.
RUN_TIMEOUT_S = 300.0
STOP_GRACE_S = 30.0  # after the stop signal, before SIGKILL to the group
SETTLE_S = 3.0  # after the last request: lets an engine crash or shutdown reach the log
MAX_LINES = 400


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def group_alive(pgid: int) -> list[int]:
    """Pids of the process group that are not zombies (zombies wait for PID 1 to reap them)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def health(base: str) -> int | None:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None


@dataclass
class Outcome:
    rc: int | None = None
    ready_s: float | None = None
    total_s: float = 0.0
    events: list[str] = field(default_factory=list)


def run_server(
    argv: list[str], env: dict[str, str], log_path: Path, recipe: Recipe, model: str, port: int
) -> Outcome:
    """Launch, wait for ready or exit, run the recipe's client, stop the group; never leaks."""
    outcome = Outcome()
    base = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    deadline = start + RUN_TIMEOUT_S
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    pgid = proc.pid
    try:
        seen_at: float | None = None  # when the log first showed recipe.stop_when
        while time.monotonic() < deadline and proc.poll() is None:
            if recipe.stop_when and seen_at is None and recipe.stop_when in log_text(log_path):
                seen_at = time.monotonic()
                outcome.events.append(
                    f"log showed {recipe.stop_when!r} after {seen_at - start:.1f} s"
                )
            if seen_at is not None and time.monotonic() - seen_at >= recipe.stop_after_s:
                outcome.events.append(f"stopped {recipe.stop_after_s:.0f} s later, not ready yet")
                break
            if health(base) == 200:
                outcome.ready_s = round(time.monotonic() - start, 1)
                break
            time.sleep(0.5)
        if outcome.ready_s is not None and recipe.client is not None:
            recipe.client(base, model, pgid, outcome.events)
        if outcome.ready_s is not None:
            settle_end = min(deadline, time.monotonic() + SETTLE_S)
            while time.monotonic() < settle_end and proc.poll() is None:
                time.sleep(0.2)
        if proc.poll() is None:
            if outcome.ready_s is None and seen_at is None:
                outcome.events.append(f"not ready after {RUN_TIMEOUT_S:.0f} s: stopped")
            os.killpg(pgid, recipe.stop_signal)
            outcome.events.append(f"sent {signal.Signals(recipe.stop_signal).name} to the group")
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                outcome.events.append("still running after the grace time: SIGKILL")
    finally:
        if group_alive(pgid):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=STOP_GRACE_S)
        for _ in range(100):  # up to 10 s for the last children to go
            if not group_alive(pgid):
                break
            time.sleep(0.1)
    outcome.rc = proc.returncode
    outcome.total_s = round(time.monotonic() - start, 1)
    return outcome


def log_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def capped(text: str) -> tuple[str, bool]:
    lines = text.splitlines(keepends=True)
    if len(lines) <= MAX_LINES:
        return text, False
    return "".join(lines[-MAX_LINES:]), True


def make_row(recipe: Recipe, vllm: Path, work: Path) -> dict[str, Any]:
    model = recipe.build(work / recipe.name, vllm.parent / "python")
    port = free_port()
    serve_args = ["serve", str(model), "--host", "127.0.0.1", "--port", str(port), *recipe.args]
    env = dict(os.environ)
    # A cache of its own: every compiled recipe compiles from scratch, as on a fresh host.
    cache = work / recipe.name / "vllm-cache"
    env.update({"VLLM_CACHE_ROOT": str(cache), "HF_HUB_OFFLINE": "1"})
    log_path = work / f"{recipe.name}.log"
    blocker = None
    if recipe.port_taken:  # another server already listens on the port
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
    try:
        outcome = run_server([str(vllm), *serve_args], env, log_path, recipe, str(model), port)
    finally:
        if blocker is not None:
            blocker.close()
    text, was_capped = capped(log_text(log_path))
    facts = [f"exit rc {outcome.rc} after {outcome.total_s} s"]
    if outcome.ready_s is not None:
        facts.insert(0, f"/health 200 after {outcome.ready_s} s")
    facts += outcome.events
    stopped_ready = outcome.ready_s is not None and any(e.startswith("sent SIG") for e in facts)
    if stopped_ready and "EngineDeadError" in text:
        facts.append(
            "the 'AsyncLLM output_handler failed ... EngineDeadError' after the '[shutdown]' lines "
            "is vLLM's known shutdown race on a signalled stop, not a fault"
        )
    if was_capped:
        facts.append(f"log capped to its last {MAX_LINES} lines")
    # A run that did not go as when the label was chosen keeps its real log, flagged for review.
    lacking = [e for e in recipe.evidence if e not in text]
    if lacking:
        facts.append(f"CHECK THE LABEL: this log lacks {lacking}")
    command = "HF_HUB_OFFLINE=1 " + shlex.join(["vllm", *serve_args])
    return {
        "id": f"cpu-{recipe.name}",
        "source": f"recipe: {command}; defect: {recipe.defect}",
        "expected": recipe.expected,
        "note": f"{recipe.note} Observed (vLLM 0.32.0 CPU): {'; '.join(facts)}.",
        "text": text,
    }


def root_cause_line(row: dict[str, Any], recipe: Recipe) -> str:
    """The log line showing the recipe's last evidence (its root cause), or a note of its absence."""
    if not recipe.evidence:
        return "(no evidence given)"
    wanted = recipe.evidence[-1]
    text: str = row["text"]
    for line in text.splitlines():
        if wanted in line:
            return line.strip()
    return f"(missing: {wanted!r})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--vllm", type=Path, required=True, help="the vllm executable")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to append rows to")
    parser.add_argument("--only", nargs="+", metavar="RECIPE", choices=[r.name for r in RECIPES])
    args = parser.parse_args(argv)
    vllm = args.vllm.absolute()
    chosen = [r for r in RECIPES if not args.only or r.name in args.only]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="vllm-corpus-") as tmp:
        for recipe in chosen:
            began = time.monotonic()
            row = make_row(recipe, vllm, Path(tmp))
            with args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            took = time.monotonic() - began
            flagged = "CHECK THE LABEL" in row["note"]
            failures += flagged
            lines = row["text"].count("\n") + 1
            print(f"{row['id']} [{row['expected']}] {took:.0f} s, {lines} lines", flush=True)
            print(
                f"    {'CHECK ' if flagged else ''}{root_cause_line(row, recipe)[:300]}", flush=True
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
