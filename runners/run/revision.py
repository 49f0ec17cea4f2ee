"""What identifies a checkpoint, cheaply, so later runs of the same weights find the
replies recorded for them: known-good replies are stored by model and revision.

- A hub name (`Qwen/Qwen3-8B`): the name and its `--revision` (vLLM's default, `main`,
  moves when the repository does: pass `--revision <commit>` to pin it).
- A model folder: a hash of what decides the replies without reading the weights whole:
  config.json, generation_config.json (vLLM takes default sampling from it), the tokenizer
  config and chat template, the safetensors index, and for each weight file its name, size
  and 64 KiB read from its middle. Sizes alone would not tell a fine-tune from its base
  (same shapes, same sizes); mtimes would tell a copy from its original. The sample does
  both right: the weights' bytes differ everywhere in a fine-tune, and are the same in a
  copy. 64 KiB x 163 shards is 10 MiB read, not the 700 GB of a DeepSeek checkpoint.

I/O: reads the folder. Runs on the agent's host (the coordinator cannot see its disk).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

SAMPLE_BYTES = 64 * 1024
MOST_FILES = 4096  # weight files sampled; a folder with more is not a checkpoint we serve
CONFIG_BYTES = 4 * 1024 * 1024  # of each small file hashed: a config is kilobytes
CONFIGS = (
    "config.json",
    "generation_config.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.gguf")
DEFAULT_HUB_REVISION = "main"
# What a stored revision may look like: it comes back from agents, hostile until checked.
REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,119}")


def model_key(model: str) -> str:
    """The model as replies are filed: a hub name as is, a folder by its name (the
    revision tells copies and checkpoints apart, wherever a host mounts them)."""
    return PurePosixPath(model).name if model.startswith("/") else model


def hub_revision(args: Sequence[str]) -> str:
    """The `--revision` among serve arguments (either spelling), else the hub's default."""
    for i, word in enumerate(args):
        if word.startswith("--revision="):
            return word.split("=", 1)[1] or DEFAULT_HUB_REVISION
        if word == "--revision" and i + 1 < len(args):
            return args[i + 1]
    return DEFAULT_HUB_REVISION


def folder_revision(folder: Path) -> str:
    """`sha256:<16 hex>` of the folder's configs and weight samples (module docstring);
    "" when it holds neither. OSError when the folder cannot be read."""
    digest = hashlib.sha256()
    found = 0
    for name in CONFIGS:
        path = folder / name
        if path.is_file():
            found += 1
            with path.open("rb") as f:
                digest.update(f"{name}\0".encode() + f.read(CONFIG_BYTES) + b"\0")
    weights = sorted({p for pattern in WEIGHTS for p in folder.glob(pattern) if p.is_file()})
    for path in weights[:MOST_FILES]:
        found += 1
        size = path.stat().st_size
        with path.open("rb") as f:
            f.seek(max(size // 2 - SAMPLE_BYTES // 2, 0))
            sample = f.read(SAMPLE_BYTES)
        digest.update(f"{path.name}\0{size}\0".encode() + sample + b"\0")
    return "sha256:" + digest.hexdigest()[:16] if found else ""


def revision(model: str, args: Sequence[str]) -> str:
    """The checkpoint's revision as this host sees it; "" when a folder cannot be read
    (nothing is then compared or recorded)."""
    if not model.startswith("/"):
        return hub_revision(args)
    try:
        return folder_revision(Path(model))
    except OSError:
        return ""
