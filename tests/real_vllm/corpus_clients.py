"""HTTP clients for make_corpus_logs.py: what a recipe sends once the server is ready.

Each takes (base url, served model name, server process group id, events) and appends what it saw
to events, which end up in the corpus row's note.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

QUESTION = "What is the capital of France? Answer in one word."


def post(base: str, path: str, body: dict[str, Any], events: list[str]) -> int | None:
    """POST JSON; record `POST path -> status: body` (body shortened) in events."""
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    status: int | None
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            status, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode(errors="replace")
    except OSError as err:
        status, text = None, f"{type(err).__name__}: {err}"
    if status == 200 and path == "/v1/chat/completions":
        text = json.loads(text)["choices"][0]["message"]["content"]
    elif status == 200 and path == "/v1/completions":
        text = json.loads(text)["choices"][0]["text"]
    events.append(f"POST {path} -> {status}: {text[:200]!r}")
    return status


def chat_body(model: str, content: str = QUESTION) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 16,
        "temperature": 0,
        "seed": 0,
    }


def chat(base: str, model: str, pgid: int, events: list[str]) -> None:
    post(base, "/v1/chat/completions", chat_body(model), events)


def chat_twice(base: str, model: str, pgid: int, events: list[str]) -> None:
    for _ in range(2):
        post(base, "/v1/chat/completions", chat_body(model), events)


def prompt_too_long(base: str, model: str, pgid: int, events: list[str]) -> None:
    long_text = " ".join(f"word{i}" for i in range(600))  # well over 512 tokens
    post(base, "/v1/chat/completions", chat_body(model, long_text), events)
    post(base, "/v1/chat/completions", chat_body(model), events)


def wrong_model_name(base: str, model: str, pgid: int, events: list[str]) -> None:
    post(base, "/v1/chat/completions", chat_body("Qwen/Qwen2.5-7B-Instruct"), events)
    post(base, "/v1/chat/completions", chat_body(model), events)


def many_requests(base: str, model: str, pgid: int, events: list[str]) -> None:
    statuses = []
    for i in range(12):
        seen: list[str] = []
        if i % 2:
            body = {"model": model, "prompt": f"The capital of Germany is {i}", "max_tokens": 8}
            statuses.append(post(base, "/v1/completions", body, seen))
        else:
            statuses.append(post(base, "/v1/chat/completions", chat_body(model), seen))
    events.append(f"12 requests (chat and completions), statuses {sorted(set(map(str, statuses)))}")


def chat_then_completion(base: str, model: str, pgid: int, events: list[str]) -> None:
    post(base, "/v1/chat/completions", chat_body(model), events)
    body = {"model": model, "prompt": "The capital of France is", "max_tokens": 8}
    post(base, "/v1/completions", body, events)


def kill_engine_core(base: str, model: str, pgid: int, events: list[str]) -> None:
    """As the kernel's OOM killer would: SIGKILL the EngineCore process, then send a request."""
    post(base, "/v1/chat/completions", chat_body(model), events)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            pgrp = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
        except (OSError, ValueError):
            continue
        if pgrp == pgid and comm.startswith("VLLM::EngineCor"):
            os.kill(int(entry.name), signal.SIGKILL)
            events.append(f"SIGKILL to EngineCore pid {entry.name}")
            break
    post(base, "/v1/chat/completions", chat_body(model), events)
