"""The `vllm serve` process group on this host: launch, signal, stop, verify, clean up.

A server is launched in a new session, so it and everything it spawns (EngineCore,
workers) share one process group; killing the main process alone would leave the engine
holding memory. Each launch is recorded on disk with a marker in its environment, so an
agent that crashed can, at its next start, stop what it left behind, and only that.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runners.errors import LaunchError

MARKER = "ASCEND_ONCALL_RUN"  # set in every server's environment; names its record


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, have the kernel send SIGTERM to the server when the thread that launched it
    dies, even by SIGKILL: an agent killed mid-job leaves no server holding the NPUs."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


_die_with_parent = _parent_death_signal()


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _started(pid: int) -> int | None:
    """A process's start time in clock ticks since boot: with the pid, names it uniquely."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[19])


def _owner_alive(data: dict[str, object]) -> bool:
    """The agent (or `run`) that launched a recorded server is still running: the server
    is its business, not a leftover."""
    owner, started = data.get("owner"), data.get("owner_started")
    return isinstance(owner, int) and owner > 0 and _started(owner) == started


def _has_marker(pid: int, run_id: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER}={run_id}".encode() in environ.split(b"\0")


# The server's environment, by name: what CANN's set_env.sh exports (toolkit and library
# paths, ASCEND_* / ATB_* / HCCL_*), the locale, temp and home folders, vLLM's and torch's
# own knobs, the hub's cache and a read token for gated weights, proxies. A job cannot set
# any of these except through `spec.ENV_NAMES`; PYTHONPATH and LD_LIBRARY_PATH come only
# from the host (CANN sets them), never from a job.
_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP",
        "LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "TOOLCHAIN_HOME",
        "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_ENDPOINT",
        "HF_HUB_ENABLE_HF_TRANSFER", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "MODELSCOPE_CACHE",
        "MODELSCOPE_API_TOKEN", "TOKENIZERS_PARALLELISM", "TASK_QUEUE_ENABLE",
        "CPU_AFFINITY_CONF", "TORCHDYNAMO_DISABLE", "http_proxy", "https_proxy", "no_proxy",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    }
)  # fmt: skip
_PREFIXES = (
    "LC_", "ASCEND_", "ATB_", "HCCL_", "LCCL_", "ASDOPS_", "VLLM_", "TORCH_", "TORCHINDUCTOR_",
    "PYTORCH_", "TRANSFORMERS_", "OMP_", "MKL_",
)  # fmt: skip
# Never passed, whatever the name's prefix or the operator's pass list: the agent's and the
# bot's settings, and anything named like a credential. The hub tokens in _NAMES are read
# tokens that gated weights need: they go.
_SECRET = re.compile(
    r"^(ONCALL_|SLACK_|AWS_|SSH_|GIT_|KUBE)|TOKEN(?!S|IZER)|SECRET|PASSW|PWD|API_?KEY"
    r"|_KEY$|_KEY_|_PAT$|AUTH|CREDENTIAL|COOKIE|SESSION|NETRC|KUBECONFIG",
    re.I,
)
_URL_CREDENTIALS = re.compile(r"://[^/\s@]{1,512}@")  # user:password@ in a URL


def _passes(name: str, value: str, extra: Iterable[str]) -> bool:
    if _URL_CREDENTIALS.search(value):
        return False
    if name in _NAMES:  # named one by one above: none is a secret but the hub tokens
        return True
    if _SECRET.search(name):
        return False
    if name.startswith(_PREFIXES):
        return True
    return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in extra)


def host_environment(
    overrides: Mapping[str, str] | None = None, pass_env: Iterable[str] = ()
) -> dict[str, str]:
    """The environment of the server and of every probe of the host (`vllm --version`, the
    package probe, `npu-smi`): the allow-listed part of the agent's own, names the operator
    passes (`NAME` or `PREFIX*`: ONCALL_RUNNER_PASS_ENV), then `overrides` (the runner's
    own and the job's checked env). The agent's token, the bot's settings, cloud and SSH
    credentials and values holding a password in a URL stay behind."""
    extra = tuple(pass_env)
    env = dict(os.environ)  # noqa: TID251
    kept = {k: v for k, v in env.items() if _passes(k, v, extra)}
    return {**kept, **(overrides or {})}


def port_in_use(host: str, port: int) -> str | None:
    """Why the port cannot be ours, or None. vLLM binds with SO_REUSEPORT, so a second
    server would start on a taken port and share its traffic: bind without it to see."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return f"port {port} on {host} is in use ({exc.strerror})"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        if s.connect_ex((host, port)) == 0:
            return f"something answers on {host}:{port}"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A launched server: its process group, its log, its record on disk."""

    popen: subprocess.Popen[bytes]
    run_id: str
    log_path: Path
    record: Path | None
    cwd: Path | None = None

    @property
    def pgid(self) -> int:
        return self.popen.pid  # a session leader's pid is its group id

    def exited(self) -> int | None:
        return self.popen.poll()

    def members(self) -> list[int]:
        return group_members(self.pgid)

    def _gone(self) -> bool:
        # The leader is reaped too: one that is still exiting (not yet a zombie, so not
        # listed) would be left unwaited for, a zombie on the host.
        return self.popen.poll() is not None and not self.members()

    def stop(self, grace_s: float = 30.0) -> list[str]:
        """SIGINT to the group (a graceful shutdown), then SIGTERM, then SIGKILL; returns
        the signals it took. The leader is reaped; the record goes once the group is gone."""
        sent = []
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self._gone():
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pgid, sig)
            sent.append(sig.name)
            deadline = time.monotonic() + (grace_s if sig != signal.SIGKILL else 10.0)
            while time.monotonic() < deadline and not self._gone():
                time.sleep(0.05)
        if self._gone():
            if self.record is not None:
                self.record.unlink(missing_ok=True)
            if self.cwd is not None:
                with contextlib.suppress(OSError):
                    self.cwd.rmdir()  # only if the server left nothing in it
        return sent


def launch(
    argv: Sequence[str],
    env: Mapping[str, str],
    log_path: Path,
    records: Path | None = None,
) -> Server:
    """Start `argv` (never through a shell) in a new session, stdout+stderr to `log_path`."""
    exe = shutil.which(argv[0])
    if exe is None:
        raise LaunchError(f"`{argv[0]}` is not an executable on this host (check --vllm-cmd)")
    run_id = uuid.uuid4().hex
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # An empty working directory: a model "name" that is a relative path finds nothing.
    cwd = log_path.parent / f"cwd-{run_id[:12]}"
    cwd.mkdir()
    with log_path.open("ab") as log:
        try:
            popen = subprocess.Popen(
                [exe, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**env, MARKER: run_id},
                start_new_session=True,
                close_fds=True,
                cwd=cwd,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise LaunchError(f"cannot start `{argv[0]}`: {exc.strerror}") from exc
    record = None
    if records is not None:
        records.mkdir(parents=True, exist_ok=True)
        record = records / f"{run_id}.json"
        record.write_text(
            json.dumps(
                {
                    "pgid": popen.pid,
                    "run_id": run_id,
                    "argv": list(argv),
                    "log": str(log_path),
                    "owner": os.getpid(),
                    "owner_started": _started(os.getpid()),
                }
            )
        )
    return Server(popen, run_id, log_path, record, cwd)


def clean_leftovers(records: Path, grace_s: float = 10.0) -> list[str]:
    """Stop servers a previous agent on this host launched and never stopped (it crashed).
    A group is signalled only while a member still carries the run's marker: a process
    group that is someone else's, or a recycled id, is never touched."""
    notes: list[str] = []
    if not records.is_dir():
        return notes
    for record in sorted(records.glob("*.json")):
        try:
            data = json.loads(record.read_text())
            pgid, run_id = int(data["pgid"]), str(data["run_id"])
        except (OSError, ValueError, KeyError, TypeError):
            record.unlink(missing_ok=True)
            continue
        if _owner_alive(data):
            continue
        ours = [pid for pid in group_members(pgid) if _has_marker(pid, run_id)]
        if ours:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                # Asked again before each signal: a pid that has exited may be reused.
                for pid in [p for p in group_members(pgid) if _has_marker(p, run_id)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                deadline = time.monotonic() + grace_s
                while time.monotonic() < deadline and any(
                    _has_marker(p, run_id) for p in group_members(pgid)
                ):
                    time.sleep(0.05)
            notes.append(f"stopped {len(ours)} leftover server process(es) of run {run_id[:8]}")
        if not any(_has_marker(p, run_id) for p in group_members(pgid)):
            record.unlink(missing_ok=True)
    return notes


def own_leftovers(records: Path) -> list[int]:
    """Processes of servers a runner that is gone launched here and that still live."""
    alive = []
    for record in records.glob("*.json") if records.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, KeyError):
            data = json.loads(record.read_text())
            pgid, run_id = int(data["pgid"]), str(data["run_id"])
            if _owner_alive(data):
                continue
            alive += [p for p in group_members(pgid) if _has_marker(p, run_id)]
    return alive
