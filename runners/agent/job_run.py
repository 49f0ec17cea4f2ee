"""One leased job on the agent's host: the playbook in a thread, its events queued for the
coordinator, heartbeats on a clock of their own carrying a redacted tail of the log."""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from runners.agent.client import Coordinator
from runners.errors import AuthError
from runners.redact import redact_data, redact_lines
from runners.run.playbook import run_playbook
from runners.run.result import Event, EventKind, RunResult
from runners.run.run_state import RunnerConfig
from runners.spec.job import JobSpec
from runners.states import Phase, Status

log = logging.getLogger("ascend_oncall.agent")


class JobRun:
    """One leased job: the playbook in a thread, its events and heartbeats to the coordinator."""

    def __init__(self, api: Coordinator, job_id: int, spec: JobSpec, config: RunnerConfig) -> None:
        self.api, self.job_id, self.spec, self.config = api, job_id, spec, config
        self.cancel = threading.Event()
        self.events: queue.Queue[Event] = queue.Queue()
        self.log_path: Path | None = None
        self.result: RunResult | None = None

    def notify(self, event: Event) -> None:
        if event.kind is EventKind.LOG:
            self.log_path = Path(event.message)
            return
        if event.kind in (
            EventKind.PHASE,
            EventKind.STAGE,
            EventKind.PROGRESS,
        ):  # the host's own log says it too
            words = " ".join(w for w in (event.stage, event.message) if w)
            log.info("job %s: [%s] %s", self.job_id, event.phase, words)
        self.events.put(event)

    def play(self) -> None:
        try:
            self.result = run_playbook(self.spec, self.config, self.notify, self.cancel)
        except Exception as exc:  # a bug of ours: the thread still gets a verdict
            log.exception("job %s crashed in the runner", self.job_id)
            self.result = RunResult(
                playbook=self.spec.playbook,
                status=Status.FAILED,
                phase=Phase.PREFLIGHT,
                verdict=f"the runner itself failed: {type(exc).__name__}: {exc}",
            )

    def tail(self, n: int = 20) -> list[str]:
        if self.log_path is None or not self.log_path.exists():
            return []
        with self.log_path.open("rb") as f:
            f.seek(max(0, self.log_path.stat().st_size - 16_000))
            lines = f.read().decode("utf-8", errors="replace").replace("\r", "\n").splitlines()
        # Redacted before it is cut to n lines: a key's BEGIN may be above the last n.
        kept = deque(redact_lines(ln for ln in lines if ln.strip()), maxlen=n)
        return [ln[:500] for ln in kept]

    def heartbeats(
        self, every_s: float, done: threading.Event, refused: Callable[[AuthError], None]
    ) -> None:
        """Heartbeats on a clock of their own until `done`: events waiting out a coordinator
        restart with backoff never hold them back past the lease. A beat not answered in
        its slot is given up; the next one tries again."""
        while True:
            try:
                reply = self.api.call(
                    f"/jobs/{self.job_id}/heartbeat",
                    {"log_tail": self.tail()},
                    retry=False,
                    timeout=max(1.0, every_s),
                )
                if reply is not None and reply.json().get("cancel"):
                    self.cancel.set()
            except AuthError as exc:
                refused(exc)
                return
            except Exception as exc:  # the run goes on; the verdict is what must land
                log.warning("job %s: heartbeat: %s: %s", self.job_id, type(exc).__name__, exc)
            if done.wait(every_s):
                return

    def flush_events(self, final_s: float = 0.0) -> None:
        batch: list[Event] = []
        while not self.events.empty():
            batch.append(self.events.get_nowait())
        if batch:
            body = {"events": [redact_data(e.model_dump(mode="json")) for e in batch]}
            self.api.call(f"/jobs/{self.job_id}/events", body, final_s=final_s)
