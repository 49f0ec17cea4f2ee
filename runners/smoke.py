"""The requests a runner makes of a server: readiness probes and the deterministic smokes
of vllm-runtime.md section 5, with a test image made here (hosts are often offline)."""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

TEXT_PROMPT = "What is the capital of France? Answer in one word."
IMAGE_PROMPT = "Describe this image in one sentence."
IMAGE_SIZE = 448  # Qwen-VL resizes by a factor of 28 (Qwen3-VL 32): smaller images fail
BODY_CHARS = 2000  # of a failed reply: the reason is often only in the body


@dataclass(frozen=True)
class Reply:
    ok: bool
    http_status: int | None
    content: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "http_status": self.http_status,
            "content": self.content,
            "error": self.error,
        }


@cache
def test_png(size: int = IMAGE_SIZE) -> bytes:
    """A `size`x`size` RGB PNG with a few colour blocks (not blank: some processors
    reject constant images), made with zlib alone."""
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type: none
        for x in range(size):
            q = (x * 4 // size) + 4 * (y * 4 // size)
            row += bytes(((q * 53) % 256, (q * 97 + 64) % 256, (255 - q * 16) % 256))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + chunk(b"IEND", b"")
    )


def health(client: httpx.Client, base: str) -> int | None:
    """/health's status, or None while nothing listens (vLLM refuses until it is ready)."""
    try:
        return client.get(f"{base}/health", timeout=2.0).status_code
    except httpx.HTTPError:
        return None


def models(client: httpx.Client, base: str) -> tuple[int | None, str | None, int | None, str]:
    """(status, served model name, max_model_len, error) from /v1/models."""
    try:
        r = client.get(f"{base}/v1/models", timeout=10.0)
    except httpx.HTTPError as exc:
        return None, None, None, f"/v1/models: {type(exc).__name__}"
    if r.status_code != 200:
        return r.status_code, None, None, r.text[:BODY_CHARS]
    try:
        card = r.json()["data"][0]
        return 200, str(card["id"]), card.get("max_model_len"), ""
    except (ValueError, KeyError, IndexError, TypeError):
        return 200, None, None, f"/v1/models answered without a model: {r.text[:200]}"


def _payload(model: str, content: Any, max_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "seed": 0,
    }


def chat(client: httpx.Client, base: str, model: str, image: bool, timeout_s: float) -> Reply:
    """One deterministic chat request; ok means HTTP 200 with a non-empty reply (a server
    missing weights answers 200 with nothing)."""
    if image:
        url = "data:image/png;base64," + base64.b64encode(test_png()).decode()
        content: Any = [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": IMAGE_PROMPT},
        ]
        payload = _payload(model, content, 32)
    else:
        payload = _payload(model, TEXT_PROMPT, 16)
    try:
        r = client.post(f"{base}/v1/chat/completions", json=payload, timeout=timeout_s)
    except httpx.TimeoutException:
        return Reply(False, None, "", f"no reply within {timeout_s:.0f} s")
    except httpx.HTTPError as exc:
        return Reply(False, None, "", f"request failed: {type(exc).__name__}: {exc}")
    if r.status_code != 200:
        return Reply(False, r.status_code, "", r.text[:BODY_CHARS])
    try:
        body = r.json()
        choice = body["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content") or message.get("reasoning_content") or ""
        tokens = int((body.get("usage") or {}).get("completion_tokens") or 0)
    except (ValueError, KeyError, IndexError, TypeError):
        return Reply(False, 200, "", f"not a chat completion: {r.text[:200]}")
    if not text.strip() or tokens < 1:
        return Reply(False, 200, text, "HTTP 200 but the reply is empty")
    return Reply(True, 200, text[:BODY_CHARS])
