"""The requests a runner makes of a server: readiness probes and the deterministic smokes
of vllm-runtime.md section 5, with a test image made here (hosts are often offline)."""

from __future__ import annotations

import base64
import json
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
TEXT_TOKENS, IMAGE_TOKENS = 16, 32
REPLY_BYTES = 4 * 1024 * 1024  # a chat reply of 16 tokens is a few hundred bytes
QUOTED_BYTES = 120  # of a reply that is not JSON, in the error
EMPTY = "HTTP 200 but the reply is empty"


@dataclass(frozen=True)
class Reply:
    ok: bool
    http_status: int | None
    content: str
    error: str | None = None
    endpoint: str = "chat"  # "completions" for a model without a chat template
    finish_reason: str | None = None
    completion_tokens: int = 0
    max_tokens: int = 0
    content_chars: int = 0  # of the whole reply, before `content` was cut
    non_utf8: bool = False  # the body held bytes that are not UTF-8 (replaced)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "http_status": self.http_status,
            "content": self.content,
            "error": self.error,
            "endpoint": self.endpoint,
            "finish_reason": self.finish_reason,
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


def _payload(model: str, content: Any, max_tokens: int, chat: bool = True) -> dict[str, Any]:
    key, value = (
        ("messages", [{"role": "user", "content": content}]) if chat else ("prompt", content)
    )
    return {"model": model, key: value, "temperature": 0, "max_tokens": max_tokens, "seed": 0}


def _quote(raw: bytes) -> str:
    return repr(raw[:QUOTED_BYTES].decode("utf-8", errors="replace"))


def post(
    client: httpx.Client, url: str, payload: dict[str, Any], timeout_s: float
) -> tuple[int | None, bytes, str | None]:
    """(status, body, error) of one POST; the body is read to REPLY_BYTES at most (the
    server's bytes are not trusted to be small)."""
    try:
        with client.stream("POST", url, json=payload, timeout=timeout_s) as r:
            body = bytearray()
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > REPLY_BYTES:
                    why = f"a reply over {REPLY_BYTES // 1024 // 1024} MiB, not read to its end"
                    return r.status_code, bytes(body[:REPLY_BYTES]), why
            return r.status_code, bytes(body), None
    except httpx.TimeoutException:
        return None, b"", f"no reply within {timeout_s:.0f} s"
    except httpx.HTTPError as exc:
        return None, b"", f"request failed: {type(exc).__name__}: {exc}"


def parse_generation(
    status: int | None, body: bytes, error: str | None, chat: bool, max_tokens: int
) -> Reply:
    """A chat or text completion's reply from raw bytes: invalid JSON or a reply of
    another shape is an error quoting its first bytes; non-UTF-8 bytes are replaced, and
    said. Pure."""
    endpoint = "chat" if chat else "completions"
    if status is None:
        return Reply(False, status, "", error, endpoint, max_tokens=max_tokens)
    if status != 200:
        text = body[:BODY_CHARS].decode("utf-8", errors="replace")
        return Reply(False, status, "", text, endpoint, max_tokens=max_tokens)
    if error is not None:
        return Reply(False, 200, "", f"{error}: {_quote(body)}", endpoint, max_tokens=max_tokens)
    decoded = body.decode("utf-8", errors="replace")
    non_utf8 = "\ufffd" in decoded and "\ufffd".encode() not in body
    what = "chat completion" if chat else "text completion"
    try:
        parsed = json.loads(decoded)
        choice = parsed["choices"][0]
        if chat:
            message = choice.get("message") or {}
            text = message.get("content") or message.get("reasoning_content") or ""
        else:
            text = choice.get("text") or ""
        if not isinstance(text, str):
            raise TypeError(type(text).__name__)
        finish = choice.get("finish_reason")
        tokens = int((parsed.get("usage") or {}).get("completion_tokens") or 0)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        why = f"HTTP 200 but not a {what} (invalid JSON or another shape): {_quote(body)}"
        return Reply(False, 200, "", why, endpoint, max_tokens=max_tokens, non_utf8=non_utf8)
    empty = not text.strip() or tokens < 1
    return Reply(
        ok=not empty,
        http_status=200,
        content=text[:BODY_CHARS],
        error=EMPTY if empty else None,
        endpoint=endpoint,
        finish_reason=finish if isinstance(finish, str) else None,
        completion_tokens=tokens,
        max_tokens=max_tokens,
        content_chars=len(text),
        non_utf8=non_utf8,
    )


def generate(
    client: httpx.Client,
    base: str,
    model: str,
    prompt: Any,
    max_tokens: int,
    timeout_s: float,
    chat: bool = True,
) -> Reply:
    """One deterministic request (temperature 0, seed 0) to the chat or completions API."""
    path = "/v1/chat/completions" if chat else "/v1/completions"
    payload = _payload(model, prompt, max_tokens, chat)
    status, body, error = post(client, f"{base}{path}", payload, timeout_s)
    return parse_generation(status, body, error, chat, max_tokens)


def no_chat_template(reply: Reply) -> bool:
    """The chat API refused for want of a chat template (vLLM: "...you must provide a chat
    template if the tokenizer does not define one")."""
    return reply.http_status == 400 and "chat template" in (reply.error or "")


def chat(client: httpx.Client, base: str, model: str, image: bool, timeout_s: float) -> Reply:
    """The first deterministic request; ok means HTTP 200 with a non-empty reply (a server
    missing weights answers 200 with nothing). A model without a chat template is asked
    the same text through /v1/completions instead."""
    if not image:
        reply = generate(client, base, model, TEXT_PROMPT, TEXT_TOKENS, timeout_s)
        if no_chat_template(reply):
            return generate(client, base, model, TEXT_PROMPT, TEXT_TOKENS, timeout_s, chat=False)
        return reply
    url = "data:image/png;base64," + base64.b64encode(test_png()).decode()
    content: Any = [
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "text", "text": IMAGE_PROMPT},
    ]
    return generate(client, base, model, content, IMAGE_TOKENS, timeout_s)
