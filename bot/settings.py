"""Settings of one process: one typed object, from the environment and `.env`.

The project's own settings carry the `ONCALL_` prefix; Slack's keep their usual names.
Built once in the entry point and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kb import DEFAULT_RUNBOOK, KBConfig, default_cache_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCALL_", env_file=".env", extra="ignore")

    # Runbook files or folders added to (or, without the default, replacing) the shipped one.
    runbooks: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    default_runbook: bool = True
    model_path: Path | None = None
    cache_dir: Path = Field(default_factory=default_cache_dir)
    max_input_bytes: int = Field(default=16_000_000, ge=1024)

    @field_validator("runbooks", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [p for p in value.split(os.pathsep) if p]
        return value

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
