"""How an agent talks to its coordinator: its settings, the HTTP client (injected: tests
give a transport, or FastAPI's TestClient), and calls retried with backoff, so a
coordinator restart or a dropped connection is waited out. A refused token is an
AuthError: nothing that agent sends counts any more."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from runners.errors import AuthError, CoordinatorError

log = logging.getLogger("ascend_oncall.agent")

PREFIX = "/api/runners/v1"


@dataclass(frozen=True)
class AgentConfig:
    server_url: str
    token: str
    labels: tuple[str, ...] = ()
    slots: int = 1
    heartbeat_s: float = 5.0
    lease_wait_s: float = 20.0
    max_backoff_s: float = 15.0
    events_every_s: float = 0.2


def client(config: AgentConfig, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The HTTP client an agent talks to its coordinator with (tests give a transport)."""
    return httpx.Client(
        base_url=config.server_url.rstrip("/") + PREFIX,
        headers={"Authorization": f"Bearer {config.token}"},
        timeout=httpx.Timeout(10.0, read=config.lease_wait_s + 15.0),
        transport=transport,
    )


def _detail(reply: httpx.Response) -> str:
    """The coordinator's reason (FastAPI's `{"detail": ...}`), or the start of the body."""
    try:
        detail = reply.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail)[:200] if detail else reply.text[:200]


class Coordinator:
    """The coordinator's API, with retries: a restart or a dropped connection is waited out."""

    def __init__(
        self, config: AgentConfig, stop: threading.Event, http: httpx.Client | None = None
    ) -> None:
        self.config, self.stop = config, stop
        self.max_backoff_s = config.max_backoff_s  # then at most a third of the lease given
        self.http = http or client(config)

    def call(
        self,
        path: str,
        body: Any,
        retry: bool = True,
        final_s: float = 0.0,
        timeout: float | None = None,
        content: bytes | None = None,
    ) -> httpx.Response | None:
        """POST with retries until it lands, or the agent stops. `final_s`: a last word (a
        verdict, the last events) that still gets this long once the agent is stopping.
        `content`: raw bytes sent instead of `body` as JSON (a server log).
        AuthError: this agent's token is refused (revoked), so nothing it sends counts."""
        delay = 0.25
        deadline = time.monotonic() + final_s
        while not self.stop.is_set() or time.monotonic() < deadline:
            try:
                wait = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
                if content is None:
                    r = self.http.post(path, json=body, timeout=wait)
                else:
                    r = self.http.post(path, content=content, timeout=wait)
            except httpx.HTTPError as exc:
                if not retry:
                    raise CoordinatorError(f"coordinator unreachable: {exc}") from exc
                log.warning(
                    "coordinator unreachable (%s); retrying in %.1f s", type(exc).__name__, delay
                )
            else:
                if r.status_code in (401, 403):
                    raise AuthError(f"the coordinator refused this agent: {_detail(r)}")
                if r.status_code in (404, 409, 413, 422):
                    raise CoordinatorError(f"{path}: {r.status_code} {r.text[:200]}")
                if r.status_code < 500:
                    return r
                if not retry:
                    raise CoordinatorError(f"{path}: {r.status_code}")
                log.warning("coordinator error %s on %s; retrying", r.status_code, path)
            if self.stop.is_set():
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            else:
                self.stop.wait(delay)
            delay = min(delay * 2, self.max_backoff_s)
        return None

    def close(self) -> None:
        self.http.close()
