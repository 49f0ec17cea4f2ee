"""Settings of one process: one typed object, from the environment and `.env`.

The project's own settings carry the `ONCALL_` prefix; Slack's keep their usual names
(SLACK_BOT_TOKEN, SLACK_APP_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL).
Built once in the entry point and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kb import DEFAULT_RUNBOOK, KBConfig, default_cache_dir
from runners import Budgets, RunnerConfig

SLACK_API_URL = "https://slack.com/api/"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ascend-oncall"


def _split(value: object, sep: str) -> object:
    if isinstance(value, str):
        return [p.strip() for p in value.split(sep) if p.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONCALL_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Runbook files or folders added to (or, without the default, replacing) the shipped one.
    runbooks: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    default_runbook: bool = True
    model_path: Path | None = None
    cache_dir: Path = Field(default_factory=default_cache_dir)
    max_input_bytes: int = Field(default=16_000_000, ge=1024)

    # Feedback, learned examples and (later) runner jobs: one SQLAlchemy database.
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{default_data_dir() / 'oncall.db'}"
    )

    # Slack. Socket Mode when the app token is set, otherwise HTTP with the signing secret.
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_api_url: str = Field(default=SLACK_API_URL, validation_alias="SLACK_API_URL")
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)

    # Where the bot answers. Empty lists mean "everywhere the app is installed / invited".
    teams: Annotated[list[str], NoDecode] = Field(default_factory=list)
    channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Channels where a pasted log or log file is triaged without a mention.
    watched_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_file_bytes: int = Field(default=5_000_000, ge=1024)
    # Threads that triage at once; concurrent pastes share one forward pass of the model.
    workers: int = Field(default=8, ge=1, le=64)

    # Runner jobs. Who may dispatch them from Slack (user ids, user group ids, channel ids):
    # empty lists mean nobody, so a fresh install runs nothing on a host by accident.
    dispatch_users: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dispatch_groups: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dispatch_channels: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Model paths a job may name (models by hub name are always allowed).
    model_roots: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Jobs may pass --trust-remote-code (it runs the model repository's Python on the host).
    allow_remote_code: bool = False
    # A job whose agent has not heartbeaten for this long is lost.
    lease_s: float = Field(default=60.0, ge=5.0)
    # An agent retrying a coordinator that is away waits twice as long each time, up to
    # this (default: a third of the lease, at most 15 s). Set, it must fit 3 times in a lease.
    max_backoff_s: float | None = Field(default=None, gt=0)
    # Jobs one person may have waiting in the queue; more are refused until one starts.
    max_queued_per_user: int = Field(default=20, ge=1)
    # A job no agent takes within this long times out in the queue.
    queue_s: float = Field(default=3600.0, gt=0)
    # The most of a job's server log kept and uploaded to its thread (head and tail).
    max_log_upload_bytes: int = Field(default=1024 * 1024, ge=4096, le=64 * 1024 * 1024)
    # The autopilot: at most this many relaunches after the first rung, and this long in all.
    autopilot_steps: int = Field(default=6, ge=0, le=20)
    autopilot_budget_s: float = Field(default=4 * 3600.0, gt=0)
    # "each": every relaunch waits for a click from someone allowed to dispatch (the button
    # shows the exact command); "none" climbs the ladder through.
    autopilot_approve: Literal["none", "each"] = "none"
    # The coordinator's agent API beside the Slack app in `serve` (same port).
    coordinator: bool = True
    # Log lines on stderr: `text` for people, `json` (one object a line) for log shippers.
    log_format: Literal["text", "json"] = "text"

    # This host, for `run` and the agent: the command that stands for `vllm`, where the
    # server listens, where logs and launch records go, and the time budgets.
    vllm_cmd: str = "vllm"
    runner_host: str = "127.0.0.1"
    runner_port: int = Field(default=8000, ge=0, le=65535)
    runner_dir: Path = Field(default_factory=lambda: default_data_dir() / "runner")
    startup_budget_s: float = Field(default=1800.0, gt=0)
    stall_s: float = Field(default=900.0, gt=0)
    # After a smoke reply, how long the server must stay healthy (a delayed engine death).
    settle_s: float = Field(default=5.0, ge=0)
    # More of this host's environment for the server than its allow-list (NAME or PREFIX*,
    # comma-separated); secret-looking names are never passed.
    runner_pass_env: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("runbooks", "model_roots", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        return _split(value, os.pathsep)

    @field_validator(
        "teams",
        "channels",
        "watched_channels",
        "dispatch_users",
        "dispatch_groups",
        "dispatch_channels",
        "runner_pass_env",
        mode="before",
    )
    @classmethod
    def _split_ids(cls, value: object) -> object:
        return _split(value, ",")

    @field_validator("database_url")
    @classmethod
    def _psycopg(cls, value: str) -> str:
        # Heroku-style and libpq URLs mean PostgreSQL through psycopg (the `postgresql` extra);
        # SQLAlchemy knows no `postgres` dialect and would pick psycopg2 for `postgresql`.
        for scheme in ("postgres://", "postgresql://"):
            if value.startswith(scheme):
                return "postgresql+psycopg://" + value.removeprefix(scheme)
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _lease_outlasts_backoff(self) -> Settings:
        if self.max_backoff_s is not None and self.lease_s < 3 * self.max_backoff_s:
            raise ValueError(
                f"ONCALL_LEASE_S={self.lease_s:g} is under 3 x ONCALL_MAX_BACKOFF_S="
                f"{self.max_backoff_s:g}: an agent waiting out a coordinator restart could "
                "lose healthy jobs. Raise the lease or lower the backoff."
            )
        return self

    @property
    def agent_backoff_s(self) -> float:
        """The longest wait between an agent's retries."""
        return self.max_backoff_s or min(15.0, self.lease_s / 3)

    @property
    def dispatch_configured(self) -> bool:
        """Someone may dispatch runner jobs from Slack."""
        return bool(self.dispatch_users or self.dispatch_groups or self.dispatch_channels)

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None

    def runner_config(self, **overrides: Any) -> RunnerConfig:
        """This host's runner: the settings, then what the command line said."""
        budgets = Budgets(
            startup_s=self.startup_budget_s, stall_s=self.stall_s, settle_s=self.settle_s
        )
        config = RunnerConfig(
            vllm_cmd=tuple(shlex.split(self.vllm_cmd)),
            host=self.runner_host,
            port=self.runner_port,
            work_dir=self.runner_dir,
            model_roots=tuple(self.model_roots),
            remote_code=self.allow_remote_code,
            pass_env=tuple(self.runner_pass_env),
            budgets=budgets,
        )
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})

    def kb_config(self, extra: list[Path] | None = None, default: bool | None = None) -> KBConfig:
        use_default = self.default_runbook if default is None else default
        runbooks = ([DEFAULT_RUNBOOK] if use_default else []) + self.runbooks + (extra or [])
        return KBConfig(
            runbooks=tuple(runbooks),
            model_path=self.model_path,
            cache_dir=self.cache_dir,
            max_input_bytes=self.max_input_bytes,
        )


def work_offline() -> None:
    """Nothing is ever fetched from a model hub: say so to the libraries that would try."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
