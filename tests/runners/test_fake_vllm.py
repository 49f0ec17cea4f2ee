"""Self-checks of tests/fakes/fake_vllm.py, the `vllm` stand-in the runner tests stand on."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "fake_vllm.py"
SCALE = "0.05"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def png(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\x80" * width * 3 for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    return "data:image/png;base64," + base64.b64encode(data + chunk(b"IEND", b"")).decode()


def image_message(url: str) -> list[dict[str, Any]]:
    parts = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "What?"}]
    return [{"role": "user", "content": parts}]


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


class Fake:
    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    def text(self) -> str:
        return self.log.read_bytes().decode(errors="replace")  # keeps the bars' \r

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        conn = HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            payload = None if body is None else json.dumps(body)
            conn.request(method, path, payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def chat(self, messages: object, model: str | None = None) -> tuple[int, Any]:
        body = {"messages": messages, "temperature": 0, "max_tokens": 16, "seed": 0}
        return self.call("POST", "/v1/chat/completions", body | ({"model": model} if model else {}))

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"exited {self.proc.returncode}:\n{self.text()}"
        try:
            return self.call("GET", "/health")[0] == 200
        except OSError:
            return False

    def wait_ready(self) -> None:
        wait_until(self.ready, 15, f"/health 200 on port {self.port}")

    def stop_group(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Signal the whole group; return the exit code once every member is gone."""
        os.killpg(self.proc.pid, sig)
        code = self.proc.wait(timeout=5)
        wait_until(lambda: group_gone(self.proc.pid), 5, "the process group to empty")
        return code


@contextlib.contextmanager
def launch(tmp_path: Path, model: str, *args: str, env: dict[str, str] | None = None,
           port: int | None = None) -> Iterator[Fake]:  # fmt: skip
    port = port or free_port()
    log = tmp_path / f"{model.replace('/', '_')}-{port}.log"
    cmd = [sys.executable, str(FAKE), "serve", model, "--port", str(port), *args]
    environ = {**os.environ, "FAKE_VLLM_TIME_SCALE": SCALE, **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=environ
        )
    try:
        yield Fake(proc, port, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def test_version_and_usage() -> None:
    version = subprocess.run([str(FAKE), "--version"], capture_output=True, text=True, timeout=10)
    assert version.stdout.strip() == "0.32.0+fake"
    bad = subprocess.run([str(FAKE), "bogus"], capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2
    assert "usage:" in bad.stderr


def test_healthy_start_serve_and_group_stop(tmp_path: Path) -> None:
    with launch(tmp_path, "fake/healthy", env={"FAKE_VLLM_TIME_SCALE": "0.3"}) as fake:
        wait_until(lambda: "Starting to load model" in fake.text(), 10, "model loading")
        with pytest.raises(ConnectionRefusedError):
            fake.call("GET", "/health")
        fake.wait_ready()
        status, models = fake.call("GET", "/v1/models")
        assert status == 200
        assert models["data"][0]["id"] == "fake/healthy"
        assert models["data"][0]["max_model_len"] == 4096
        first = fake.chat([{"role": "user", "content": "Capital of France?"}], "fake/healthy")
        second = fake.chat([{"role": "user", "content": "Capital of France?"}])
        assert first[0] == second[0] == 200
        content = first[1]["choices"][0]["message"]["content"]
        assert content and content == second[1]["choices"][0]["message"]["content"]
        assert first[1]["usage"]["completion_tokens"] >= 1
        assert fake.chat([{"role": "user", "content": "hi"}], "other")[0] == 404
        assert fake.chat(image_message(png(448, 448)))[0] == 200
        status, body = fake.chat(image_message(png(10, 10)))
        assert status == 400
        assert "height:10 or width:10 must be larger than factor:28" in body["error"]["message"]
        assert fake.chat(image_message("data:image/png;base64,bm90IGEgcG5n"))[0] == 400
        with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
            raw.sendall(b"POST /v1/completions HTTP/1.1\r\nContent-Length: 30000000\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 413")
        status, body = fake.call(
            "POST", "/v1/completions", {"prompt": "Beijing is a", "max_tokens": 5}
        )
        assert status == 200
        assert body["choices"][0]["text"].strip()
        assert body["choices"][0]["finish_reason"] == "length"
        assert fake.call("GET", "/version") == (200, {"version": "0.32.0+fake"})
        assert fake.call("GET", "/nope")[0] == 404
        assert fake.call("GET", "/health")[0] == 200
        assert fake.stop_group() == 0
        log = fake.text()
    assert "Capturing CUDA graphs (mixed prefill-decode, PIECEWISE)" in log
    assert "\rCapturing CUDA graphs (decode, FULL): 100%" in log
    assert "enforce_eager=False" in log
    assert log.count("Replaying aclgraph") == 1
    assert '"POST /v1/chat/completions HTTP/1.1" 200 OK' in log
    assert "code=404" in log
    assert "Uvicorn running on" not in log
    shutdown = log.index("INFO:     Shutting down")
    assert log.index("EngineDeadError", shutdown) < log.index("Application shutdown complete.")


@pytest.mark.parametrize(
    ("model", "messages", "signature"),
    [
        (
            "fake/false-ready-fia",
            "hi",
            "aclnnFusedInferAttentionScoreV3 failed, error code is 561002",
        ),
        ("fake/graph-only-mla", "hi", "AtbRingMLAGetWorkspaceSize"),
        ("fake/vl-dynamo", image_message(png(448, 448)), "NPU contiguous operator only supported"),
    ],
)
def test_first_request_kills_a_false_ready_server(
    tmp_path: Path, model: str, messages: Any, signature: str
) -> None:
    with launch(tmp_path, model) as fake:
        fake.wait_ready()
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        assert fake.chat(messages)[0] == 500
        assert fake.proc.wait(timeout=5) == 0
        wait_until(lambda: group_gone(fake.proc.pid), 5, "the process group to empty")
        log = fake.text()
    assert signature in log
    assert "EngineCore encountered a fatal error." in log
    assert '"POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error' in log
    assert log.index(signature) < log.index("INFO:     Shutting down")


def test_keep_alive_after_engine_death_answers_503(tmp_path: Path) -> None:
    env = {"VLLM_KEEP_ALIVE_ON_ENGINE_DEATH": "1"}
    with launch(tmp_path, "fake/false-ready-fia", "--enforce-eager", env=env) as fake:
        fake.wait_ready()
        assert fake.chat([{"role": "user", "content": "hi"}])[0] == 500
        time.sleep(0.2)
        assert fake.call("GET", "/health")[0] == 503
        assert fake.chat([{"role": "user", "content": "again"}])[0] == 500
        assert fake.stop_group() == 0


@pytest.mark.parametrize(
    ("model", "signature"),
    [
        ("fake/arch-unknown", "Model architectures ['NoSuchForCausalLM'] are not supported"),
        ("fake/hccl-bind", "EJ0003: [PID: "),
        (
            "fake/capture-507903",
            "AclmdlRICaptureEnd(capture_stream_, &model_ri), error code is 507903",
        ),
        ("fake/kv-too-small", "the estimated maximum model length is 2048"),
    ],
)
def test_startup_failures_exit_1(tmp_path: Path, model: str, signature: str) -> None:
    with launch(tmp_path, model) as fake:
        assert fake.proc.wait(timeout=10) == 1
        wait_until(lambda: group_gone(fake.proc.pid), 5, "the process group to empty")
        log = fake.text()
    assert signature in log
    assert "Application startup complete." not in log
    if model != "fake/arch-unknown":
        assert "EngineCore failed to start." in log
        assert "Engine core initialization failed. See root cause above." in log


def test_port_taken_exits_1(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with launch(tmp_path, "fake/healthy", port=port) as fake:
            assert fake.proc.wait(timeout=10) == 1
            log = fake.text()
    assert "OSError: [Errno 98] Address already in use" in log


@pytest.mark.parametrize(
    ("model", "args", "env"),
    [
        ("fake/graph-only-mla", ["--enforce-eager"], {}),
        ("fake/capture-507903", [], {"HCCL_OP_EXPANSION_MODE": "AIV"}),
        ("fake/kv-too-small", ["--max-model-len", "2048"], {}),
        ("fake/vl-dynamo", [], {"TORCHDYNAMO_DISABLE": "1"}),
    ],
)
def test_fallbacks_serve(tmp_path: Path, model: str, args: list[str], env: dict[str, str]) -> None:
    with launch(tmp_path, model, *args, env=env) as fake:
        fake.wait_ready()
        assert fake.chat([{"role": "user", "content": "hi"}])[0] == 200
        if model == "fake/vl-dynamo":
            assert fake.chat(image_message(png(512, 448)))[0] == 200
        if model == "fake/kv-too-small":
            assert fake.call("GET", "/v1/models")[1]["data"][0]["max_model_len"] == 2048
        assert fake.stop_group(signal.SIGINT) == 0
        log = fake.text()
    eager = "--enforce-eager" in args
    assert ("enforce_eager=True" in log) is eager
    assert ("Cudagraph is disabled under eager mode" in log) is eager
    assert ("Compilation disabled, using eager mode by default" in log) is eager
    assert ("Capturing CUDA graphs" in log) is not eager


def test_ignored_signals_need_escalation(tmp_path: Path) -> None:
    env = {"FAKE_VLLM_IGNORE_SIGINT": "1", "FAKE_VLLM_IGNORE_SIGTERM": "1"}
    with launch(tmp_path, "fake/healthy", env=env) as fake:
        fake.wait_ready()
        for sig in (signal.SIGINT, signal.SIGTERM):
            os.killpg(fake.proc.pid, sig)
            time.sleep(0.3)
            assert fake.proc.poll() is None, sig
        assert fake.stop_group(signal.SIGKILL) == -signal.SIGKILL


def test_hang_never_listens_and_dies_on_sigterm(tmp_path: Path) -> None:
    with launch(tmp_path, "fake/hang") as fake:
        wait_until(lambda: "Starting to load model" in fake.text(), 10, "model loading")
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            fake.call("GET", "/health")
        assert fake.text().rstrip().endswith("Starting to load model fake/hang...")
        assert fake.stop_group() == 0


def test_killing_only_the_main_pid_leaves_the_engine(tmp_path: Path) -> None:
    with launch(tmp_path, "fake/healthy") as fake:
        fake.wait_ready()
        os.kill(fake.proc.pid, signal.SIGKILL)
        fake.proc.wait(timeout=5)
        time.sleep(0.3)
        assert not group_gone(fake.proc.pid), "EngineCore should outlive its parent"
