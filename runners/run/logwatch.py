"""Follow a `vllm serve` log as it grows: startup stage, fatal lines, evidence, activity.

The log is read raw and split on both `\n` and `\r` (tqdm redraws its bar with `\r`).
Stages only move forward. The patterns allow the alternates of several vLLM and
vllm-ascend releases and never need an optional line (vllm-runtime.md, sections 1.2, 9).
"""

from __future__ import annotations

import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# Startup stages in the order a server passes them; each with the lines that announce it.
STAGES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("platform", r"Platform plugin \S+ is activated|Automatically detected platform"),
        ("config", r"Resolved architecture: |non-default args:|Using max model len"),
        ("engine", r"Initializing a V1 LLM engine|Waiting for init message from front-end"),
        (
            "loading",
            r"Starting to load model|Loading weights took|Model loading took|"
            r"Loading model weights took|Initializing model took",
        ),
        (
            "compiling",
            r"Dynamo bytecode transform time|Compiling a graph for dynamic shape|"
            r"torch\.compile takes|Directly load the compiled graph|"
            r"Warming up model for the compilation|Compiling model again|saved AOT compiled",
        ),
        (
            "profiling",
            r"Available KV cache memory|GPU KV cache size|Initial profiling/warmup run|"
            r"Maximum concurrency for|[CG]PU KV cache size|GiB for KV cache",
        ),
        (
            "capturing graphs",
            r"Capturing (CUDA|ACL) graphs|Starting to capture ACL graphs|"
            r"Capturing torchair graph|Batchsize \d+ is compiled successfully",
        ),
        ("graphs captured", r"Graph capturing finished in"),
        ("engine ready", r"init engine \(profile, create kv cache, warmup model\) took"),
        (
            "api up",
            r"Starting vLLM (API )?server|Available routes are:|"
            r"Application startup complete\.|Started server process",
        ),
    )
)
STAGE_NAMES = tuple(name for name, _ in STAGES)
CAPTURING = ("capturing graphs", "loading")  # long, quiet stages: the stall window is longer

FATAL = re.compile(
    r"EngineCore failed to start|Engine core initialization failed|WorkerProc failed to start|"
    r"EngineCore encountered a fatal error|WorkerProc hit an exception|"
    r"error code is \d{6}|\bE[A-Z][0-9A-Z]\d{3}:|"
    r"are not supported for now\. Supported architectures|Address already in use|"
    r"address already in use|died unexpectedly|NPU out of memory|"
    r"ACL graph is incompatible with ASCEND_LAUNCH_BLOCKING"
)
# Lines that look alarming but say the server is busy, not broken.
BENIGN = re.compile(
    r"No available shared memory broadcast block found|Waiting for pending NCCL work|"
    r"Unknown vLLM environment variable detected"
)
EAGER_EVIDENCE = re.compile(
    r"Compilation disabled, using eager mode by default|Cudagraph is disabled under eager mode|"
    r"Skipping NPU graph capture for eager mode|Enforce eager set|enforce_eager=True"
)
GRAPH_EVIDENCE = re.compile(r"Graph capturing finished in [^\n]*|Replaying aclgraph")
# Compiled mode took effect (on a CPU there is compilation but no graph capture).
COMPILED_EVIDENCE = re.compile(r"torch\.compile takes [^\n]*|saved AOT compiled function")
# What memory the KV cache got, as vLLM and vllm-ascend say it after profiling: the room a
# --max-model-len leaves (the practical max-length probe reports it with the length).
KV_EVIDENCE = re.compile(
    r"Available KV cache memory: -?[\d.]+ GiB|[A-Z]{2,5}(?: \+ host)? KV cache size: [\d,]+ tokens|"
    r"Maximum concurrency for [\d,]+ tokens per request: [\d.]+x"
)
READY_LINE = re.compile(r"Application startup complete\.")
# How far a graph capture is: tqdm's `Capturing CUDA graphs (decode, FULL): 40%|####  | 12/30`
# (vLLM and vllm-ascend >= 0.13 keep the CUDA name on Ascend) and torchair's
# `Batchsize 8 is compiled successfully: 3/9.`
CAPTURE_PROGRESS = re.compile(
    r"Capturing (?:CUDA|ACL) graphs(?: \((?P<mode>[^()|\r\n]{1,60})\))?[^|\r\n]{0,120}\|"
    r"[^|\r\n]{0,200}\|\s{0,4}(?P<done>\d{1,6})/(?P<total>\d{1,6})|"
    r"Batchsize \d{1,6} is compiled successfully: (?P<tdone>\d{1,6})/(?P<ttotal>\d{1,6})"
)


def clean(line: str) -> str:
    return ANSI.sub("", line).rstrip()


@dataclass
class LogFollower:
    """Reads what was appended to the log since the last `poll`, and what it says."""

    path: Path
    offset: int = 0
    stage: str | None = None
    reached: list[str] = field(default_factory=list)  # every stage, in the order announced
    fatal: str | None = None  # the first fatal line, as logged
    fatal_at: float | None = None  # monotonic time it was read
    fatal_count: int = 0  # fatal lines so far: a new one after a request is a false-ready
    eager_evidence: str | None = None
    graph_evidence: str | None = None
    compiled_evidence: str | None = None
    kv_evidence: list[str] = field(default_factory=list)  # the KV cache's memory and size
    api_up: bool = False
    capture_progress: tuple[int, int] | None = None  # graphs captured, of how many
    capture_mode: str = ""  # which pass: "mixed prefill-decode, PIECEWISE", "decode, FULL"
    last_growth: float = field(default_factory=time.monotonic)
    last_stage_change: float = field(default_factory=time.monotonic)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=200))
    _pending: str = ""

    def poll(self) -> list[str]:
        """New complete lines since the last call; updates stage, fatal, evidence."""
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(4_000_000)
        except FileNotFoundError:
            return []
        if not data:
            return []
        self.offset += len(data)
        self.last_growth = time.monotonic()
        text = self._pending + data.decode("utf-8", errors="replace")
        parts = re.split(r"\r\n|\n|\r", text)
        self._pending = parts.pop()
        lines = [clean(p) for p in parts if p.strip()]
        for line in lines:
            self._read(line)
        return lines

    def _read(self, line: str) -> None:
        self.tail.append(line)
        for index, (name, pattern) in enumerate(STAGES):
            if pattern.search(line) and (self.stage is None or index > self._stage_index()):
                self.stage = name
                self.reached.append(name)
                self.last_stage_change = time.monotonic()
        if READY_LINE.search(line):
            self.api_up = True
        if self.stage == "capturing graphs" and (m := CAPTURE_PROGRESS.search(line)):
            names = ("done", "total") if m.group("done") else ("tdone", "ttotal")
            done, total = (int(g) for g in m.group(*names))
            self.capture_progress, self.capture_mode = (done, total), m.group("mode") or ""
        if FATAL.search(line) and not BENIGN.search(line):
            self.fatal_count += 1
            if self.fatal is None:
                self.fatal, self.fatal_at = line, time.monotonic()
        if self.eager_evidence is None and (m := EAGER_EVIDENCE.search(line)):
            self.eager_evidence = m.group(0)
        if self.graph_evidence is None and (m := GRAPH_EVIDENCE.search(line)):
            self.graph_evidence = m.group(0)
        if self.compiled_evidence is None and (m := COMPILED_EVIDENCE.search(line)):
            self.compiled_evidence = m.group(0)
        if len(self.kv_evidence) < 3 and (m := KV_EVIDENCE.search(line)):
            said = m.group(0)
            if not any(x.split(":")[0] == said.split(":")[0] for x in self.kv_evidence):
                self.kv_evidence.append(said)

    def _stage_index(self) -> int:
        return STAGE_NAMES.index(self.stage) if self.stage else -1

    def quiet_for(self) -> float:
        return time.monotonic() - self.last_growth


def read_until(path: Path, end: int) -> str:
    """The log as it was when the runner asked the server to stop: what came after is the
    shutdown's own noise (EngineDeadError tracebacks during a clean stop, say)."""
    try:
        with path.open("rb") as f:
            return f.read(end).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
