"""Read what a checkpoint says about itself, never its weights: `config.json`, the
safetensors index, and each shard's header (an 8-byte little-endian length, then that
much JSON). Every read is bounded, and no file is read through a link that leaves the
model folder (or its Hugging Face cache repository, whose snapshots link to `blobs/`).

What cannot be read is recorded as a problem for the checks to report, never raised.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runners.doctor.errors import ModelDirError

CONFIG_MAX = 4 << 20
TOKENIZER_CONFIG_MAX = 16 << 20  # chat templates make these big
INDEX_MAX = 64 << 20  # the biggest MoE indexes are a few MB
HEADER_MAX = 100_000_000  # safetensors refuses a longer header itself
LISTING_MAX = 20_000  # files in the model folder worth looking at
INDEX_NAME = "model.safetensors.index.json"
F8_DTYPES = frozenset({"F8_E4M3", "F8_E5M2"})


class Unreadable(Exception):
    """A file the doctor will not or cannot read; the message says which and why."""


class Missing(Unreadable):
    """No such file (not even a dangling link)."""


@dataclass(frozen=True)
class Tensor:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Shard:
    name: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    problem: str | None = None  # why its header could not be read


@dataclass(frozen=True)
class Checkpoint:
    """A model folder as its metadata describes it."""

    root: Path
    files: frozenset[str]  # regular files at the top of the folder that may be read
    refused: tuple[str, ...] = ()  # files not read, and why
    config: dict[str, Any] | None = None
    config_problem: str | None = None
    tokenizer_config: dict[str, Any] | None = None
    index: dict[str, str] | None = None  # tensor name -> shard file, from the index
    index_problem: str | None = None
    shards: dict[str, Shard] = field(default_factory=dict)
    missing_shards: tuple[str, ...] = ()  # named by the index, absent from the folder
    weights_read: bool = True  # False: --load-format dummy, the weights do not matter

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor the readable shard headers declare."""
        found: dict[str, Tensor] = {}
        for shard in self.shards.values():
            found.update(shard.tensors)
        return found


class ModelFolder:
    """Bounded reads of regular files inside one model folder."""

    def __init__(self, path: str | Path, roots: tuple[str, ...] = ()) -> None:
        given = Path(path)
        if not given.exists():
            raise ModelDirError(f"the model folder {given} does not exist", str(given))
        if not given.is_dir():
            raise ModelDirError(f"{given} is not a folder: give the model's folder", str(given))
        self.root = Path(os.path.realpath(given))
        if roots and not _inside(self.root, [Path(os.path.realpath(r)) for r in roots]):
            raise ModelDirError(
                f"{given} is outside the model roots ({', '.join(roots)})", str(given)
            )
        # A Hugging Face cache snapshot is made of links into the repository's blobs/.
        bases = [self.root]
        if self.root.parent.name == "snapshots" and self.root.parent.parent.name.startswith(
            "models--"
        ):
            bases.append(self.root.parent.parent)
        self.bases = bases + [Path(os.path.realpath(r)) for r in roots]

    def listing(self) -> tuple[frozenset[str], tuple[str, ...]]:
        """(files that may be read, files refused and why), at the top of the folder."""
        files: set[str] = set()
        refused: list[str] = []
        try:
            with os.scandir(self.root) as entries:
                for n, entry in enumerate(entries):
                    if n >= LISTING_MAX:
                        refused.append(f"more than {LISTING_MAX} entries: the rest not looked at")
                        break
                    try:
                        self.resolve(entry.name)
                    except Unreadable as exc:
                        if not entry.is_dir():
                            refused.append(str(exc))
                        continue
                    files.add(entry.name)
        except OSError as exc:
            raise ModelDirError(
                f"cannot list the model folder {self.root}: {exc.strerror}", str(self.root)
            ) from exc
        return frozenset(files), tuple(refused)

    def resolve(self, name: str) -> Path:
        """The real path of the regular file `name` (relative), or Unreadable."""
        if name.startswith("/") or ".." in name.split("/") or "\x00" in name:
            raise Unreadable(f"{name[:200]!r} is not a file name inside the model folder")
        if not os.path.lexists(self.root / name):
            raise Missing(f"{name} is missing")
        real = Path(os.path.realpath(self.root / name))
        if not _inside(real, self.bases):
            raise Unreadable(f"{name} is a link to {real}, outside the model folder: not read")
        try:
            mode = real.stat().st_mode
        except OSError as exc:
            raise Unreadable(f"cannot read {name}: {exc.strerror}") from exc
        if not stat.S_ISREG(mode):  # a FIFO would block a read for ever
            raise Unreadable(f"{name} is not a regular file: not read")
        return real

    def read(self, name: str, limit: int) -> bytes:
        real = self.resolve(name)
        try:
            with real.open("rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise Unreadable(f"cannot read {name}: {exc.strerror}") from exc
        if len(data) > limit:
            raise Unreadable(f"{name} is over {limit >> 20} MB: not read")
        return data

    def read_json(self, name: str, limit: int) -> Any:
        try:
            return json.loads(self.read(name, limit))
        except (ValueError, UnicodeDecodeError) as exc:
            raise Unreadable(f"{name} is not JSON: {str(exc)[:200]}") from exc

    def header(self, name: str) -> dict[str, Tensor]:
        """The tensors a safetensors file declares, from its header alone."""
        real = self.resolve(name)
        try:
            size = real.stat().st_size
            with real.open("rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise Unreadable(f"{name} is truncated: {len(head)} bytes, no header length")
                length = int.from_bytes(head, "little")
                if length > HEADER_MAX:
                    raise Unreadable(
                        f"{name}: the header claims {length} bytes, over the "
                        f"{HEADER_MAX} safetensors allows: corrupt"
                    )
                if length > size - 8:
                    raise Unreadable(
                        f"{name} is truncated: the header claims {length} bytes, "
                        f"the file has {size - 8} after the length"
                    )
                raw = f.read(length)
        except OSError as exc:
            raise Unreadable(f"cannot read {name}: {exc.strerror}") from exc
        return _tensors(name, raw, size - 8 - length)


def _inside(path: Path, bases: list[Path]) -> bool:
    return any(path == b or path.is_relative_to(b) for b in bases)


def _tensors(name: str, raw: bytes, data_size: int) -> dict[str, Tensor]:
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable(f"{name}: the header is not JSON: corrupt ({str(exc)[:120]})") from exc
    if not isinstance(header, dict):
        raise Unreadable(f"{name}: the header is not a JSON object: corrupt")
    tensors: dict[str, Tensor] = {}
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (start, stop) = info["dtype"], info["shape"], info["data_offsets"]
            if not (isinstance(dtype, str) and all(isinstance(d, int) for d in shape)):
                raise TypeError
            if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop):
                raise TypeError
        except (KeyError, TypeError, ValueError):
            raise Unreadable(f"{name}: the header's entry for {key[:100]} is malformed") from None
        tensors[key] = Tensor(dtype, tuple(shape))
        end = max(end, stop)
    if end > data_size:
        raise Unreadable(
            f"{name} is truncated: its tensors need {end} bytes of data, the file has {data_size}"
        )
    return tensors


def read_checkpoint(folder: ModelFolder, weights: bool = True) -> Checkpoint:
    """Everything the checks look at; `weights=False` reads no index and no shard."""
    files, refused = folder.listing()
    config, config_problem = _json_object(folder, "config.json", CONFIG_MAX)
    tokenizer_config, _ = _json_object(folder, "tokenizer_config.json", TOKENIZER_CONFIG_MAX)
    found = Checkpoint(
        root=folder.root,
        files=files,
        refused=refused,
        config=config,
        config_problem=config_problem,
        tokenizer_config=tokenizer_config,
        weights_read=weights,
    )
    if not weights:
        return found
    index, index_problem = _index(folder)
    names = set(index.values()) if index else set()
    names |= {f for f in files if f.endswith(".safetensors")}
    shards: dict[str, Shard] = {}
    missing: list[str] = []
    for name in sorted(names):
        try:
            shards[name] = Shard(name, folder.header(name))
        except Missing:
            missing.append(name)
        except Unreadable as exc:
            shards[name] = Shard(name, problem=str(exc))
    return replace(
        found,
        index=index,
        index_problem=index_problem,
        shards=shards,
        missing_shards=tuple(missing),
    )


def _json_object(
    folder: ModelFolder, name: str, limit: int
) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = folder.read_json(name, limit)
    except Unreadable as exc:  # Missing says "{name} is missing"
        return None, str(exc)
    if not isinstance(data, dict):
        return None, f"{name} is not a JSON object"
    return data, None


def _index(folder: ModelFolder) -> tuple[dict[str, str] | None, str | None]:
    try:
        data = folder.read_json(INDEX_NAME, INDEX_MAX)
    except Missing:
        return None, None  # one file, or no safetensors at all
    except Unreadable as exc:
        return None, str(exc)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        return None, f"{INDEX_NAME} has no weight_map of tensor names to shard files"
    return weight_map, None
