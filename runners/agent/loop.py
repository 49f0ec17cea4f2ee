"""The agent on an Ascend host: `ascend-oncall runner --server URL --token T --label a2`.

It registers, long-polls for a job its labels allow, runs the playbook in a thread, and
meanwhile heartbeats (with a redacted log tail) and streams phase events. The coordinator
may restart under it: calls are retried with backoff, events wait in a buffer, and a
result is kept on disk until the coordinator has it. At start it stops any server a
crashed run of itself left behind.
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from runners.agent.client import AgentConfig, Coordinator
from runners.agent.job_run import JobRun
from runners.errors import AuthError, CoordinatorError
from runners.redact import redact_file, redact_lines
from runners.run import vllm_process
from runners.run.logcut import DEFAULT_MAX_LOG_BYTES, cut_file, cut_log
from runners.run.result import RunResult
from runners.run.run_state import RunnerConfig
from runners.spec.job import JobSpec
from runners.states import Phase, Status

log = logging.getLogger("ascend_oncall.agent")


VERSION = "1"
FINAL_S = 15.0  # a stopping agent still tries this long to deliver a verdict


class RunnerAgent:
    def __init__(
        self,
        config: AgentConfig,
        runner: RunnerConfig,
        stop: threading.Event | None = None,
        on_idle: Callable[[], None] = lambda: None,
        http: httpx.Client | None = None,
    ) -> None:
        self.config, self.runner = config, runner
        self.stop = stop or threading.Event()
        self.api = Coordinator(config, self.stop, http)
        self.on_idle = on_idle
        self.pending = runner.work_dir / "pending"
        self._in_hand: set[int] = set()  # jobs now: a stop cancels them before the agent exits
        self._lock = threading.Lock()
        self.heartbeat_s = config.heartbeat_s  # then at most a third of the lease given
        self.refused: AuthError | None = None  # the token was refused: stop, report nothing
        self.max_log_bytes = DEFAULT_MAX_LOG_BYTES  # then what the coordinator keeps

    @property
    def busy(self) -> bool:
        return bool(self._in_hand)

    def run(self) -> None:
        """Until `stop` is set: register, then lease and run jobs, `slots` at a time.
        AuthError: the coordinator refused this agent's token, at the start or later (a
        revoke); its jobs were stopped and not reported."""
        why = "it failed"
        try:
            self._run()
            why = "its token was refused" if self.refused else "asked to stop"
        finally:
            self.api.close()
            log.info("agent stopped: %s", why)
        if self.refused is not None:
            raise self.refused

    def _refuse(self, exc: AuthError) -> None:
        """A 401 or 403 mid-run: revoked. Stop every job's server and report nothing more."""
        with self._lock:
            first, self.refused = self.refused is None, self.refused or exc
        if first:
            log.error(
                "the coordinator refused this agent's token (revoked?): stopping its jobs "
                "and exiting, reporting nothing more (%s)",
                exc,
            )
        self.stop.set()

    def _run(self) -> None:
        for note in vllm_process.clean_leftovers(self.runner.records):
            log.warning("%s", note)
        self._deliver_pending()
        reply = self.api.call(
            "/agents/register",
            {
                "labels": list(self.config.labels),
                "hostname": platform.node(),
                "version": VERSION,
                "slots": self.config.slots,
            },
        )
        if reply is None:
            return
        info = reply.json()
        log.info("registered as %s with labels %s", info["agent"], info["labels"])
        self.max_log_bytes = _positive(info.get("max_log_bytes"), DEFAULT_MAX_LOG_BYTES)
        lease_s = float(info.get("lease_s") or 0)
        if lease_s > 0:  # three heartbeats, and three of the longest retry waits, per lease
            self.heartbeat_s = min(self.config.heartbeat_s, lease_s / 3)
            self.api.max_backoff_s = min(self.config.max_backoff_s, lease_s / 3)
        others = [
            threading.Thread(target=self._work, args=(slot,), name=f"slot-{slot}", daemon=True)
            for slot in range(1, self.config.slots)
        ]
        for thread in others:
            thread.start()
        self._work(0)
        for thread in others:
            thread.join()

    def _work(self, slot: int) -> None:
        # Servers side by side on one host need ports of their own.
        runner = self.runner
        if slot and runner.port:
            runner = replace(runner, port=runner.port + slot)
        if slot:  # and HCCL listen ports of their own (the default base is 60000)
            runner = replace(runner, extra_env=(("HCCL_IF_BASE_PORT", str(60000 + 200 * slot)),))
        while not self.stop.is_set():
            body = {"wait_s": self.config.lease_wait_s}
            try:
                reply = self.api.call("/lease", body)
                if reply is None:
                    break
                if reply.status_code == 204:
                    self.on_idle()
                    continue
                job = reply.json()
                job_id = int(job["id"])
            except AuthError as exc:
                self._refuse(exc)
                break
            except (ValueError, KeyError, TypeError) as exc:
                log.error("slot %s: an answer from the coordinator it cannot read: %s", slot, exc)
                self.stop.wait(self.config.max_backoff_s)
                continue
            with self._lock:
                self._in_hand.add(job_id)
            try:
                self._run_job(job_id, job.get("spec"), runner)
            finally:
                with self._lock:
                    self._in_hand.discard(job_id)

    def _run_job(self, job_id: int, raw_spec: Any, runner: RunnerConfig) -> None:
        """Run one leased job; whatever happens, the coordinator gets a verdict for it."""
        try:
            spec = JobSpec.model_validate(raw_spec)
        except ValueError as exc:
            result = RunResult(
                playbook="smoke", status=Status.BLOCKED, phase=Phase.QUEUED,
                verdict=f"blocked: this agent cannot read the job: {str(exc)[:300]}",
            )  # fmt: skip
            self._store_pending(job_id, result)
            self._deliver(job_id, result)
            return
        log.info("job %s: %s", job_id, spec.describe())
        job = JobRun(self.api, job_id, spec, runner)
        thread = threading.Thread(target=job.play, name=f"job-{job_id}", daemon=True)
        thread.start()
        played = threading.Event()
        beats = threading.Thread(
            target=job.heartbeats,
            args=(self.heartbeat_s, played, self._refuse),
            name=f"heartbeat-{job_id}",
            daemon=True,
        )
        beats.start()
        try:
            while thread.is_alive():
                thread.join(self.config.events_every_s)
                if self.stop.is_set():
                    job.cancel.set()  # stopping or refused: stop the server first
                try:
                    job.flush_events()
                except AuthError as exc:
                    self._refuse(exc)
                except Exception as exc:  # the run goes on; the verdict is what must land
                    log.warning("job %s: %s: %s (the run goes on)", job_id, type(exc).__name__, exc)
        finally:
            played.set()
            beats.join()
        if self.refused is not None:
            log.warning("job %s: its server is stopped; nothing reported (token refused)", job_id)
            return
        assert job.result is not None
        result = job.result.redacted()  # all of it, not the tail alone
        if result.log_path:  # the log stays here, and may be posted: no secret in it either
            try:
                redact_file(Path(result.log_path))
            except OSError as exc:
                log.warning("job %s: the server log could not be redacted: %s", job_id, exc)
        self._store_pending(job_id, result)
        try:
            job.flush_events(final_s=FINAL_S)
        except Exception as exc:
            log.warning("job %s: last events not sent: %s", job_id, exc)
        self._deliver(job_id, result)

    def _store_pending(self, job_id: int, result: RunResult) -> None:
        self.pending.mkdir(parents=True, exist_ok=True)
        (self.pending / f"{job_id}.json").write_text(result.model_dump_json())

    def _deliver(self, job_id: int, result: RunResult) -> None:
        try:
            self._send_log(job_id, result)  # first: the thread gets it with the verdict
            body = result.redacted().model_dump(mode="json")  # a pending one, too
            reply = self.api.call(f"/jobs/{job_id}/result", body, final_s=FINAL_S)
        except AuthError as exc:
            self._refuse(exc)  # the result stays on disk: this agent's next self may deliver it
            return
        except CoordinatorError as exc:
            log.error("job %s: the coordinator refused the result: %s", job_id, exc)
            reply = None
            (self.pending / f"{job_id}.json").unlink(missing_ok=True)
        if reply is not None:
            (self.pending / f"{job_id}.json").unlink(missing_ok=True)
            log.info("job %s: %s", job_id, result.status)

    def _send_log(self, job_id: int, result: RunResult) -> None:
        """The run's server log (redacted on disk already), cut to what the coordinator
        keeps and redacted again. A log it refuses is logged; the verdict goes anyway."""
        if not result.log_path:
            return
        path = Path(result.log_path)
        try:
            total = path.stat().st_size
            data = cut_file(path, self.max_log_bytes)
        except OSError as exc:  # nothing launched, or the file is gone
            log.info("job %s: no server log to send: %s", job_id, exc)
            return
        text = "\n".join(redact_lines(data.decode("utf-8", errors="replace").split("\n")))
        sent = cut_log(text.encode(), self.max_log_bytes)  # a mask may be longer than a secret
        try:
            self.api.call(f"/jobs/{job_id}/log?total={total}", None, final_s=FINAL_S, content=sent)
        except CoordinatorError as exc:
            log.warning("job %s: the coordinator refused its server log: %s", job_id, exc)

    def _deliver_pending(self) -> None:
        """Results of jobs finished while the coordinator was away, then this agent stopped."""
        for path in sorted(self.pending.glob("*.json")) if self.pending.is_dir() else []:
            try:
                result = RunResult.model_validate_json(path.read_text())
            except ValueError:
                path.unlink(missing_ok=True)
                continue
            self._deliver(int(path.stem), result)


def _positive(value: Any, default: int) -> int:
    """A size the coordinator said, or `default` when it said none or nonsense."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
