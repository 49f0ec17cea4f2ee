"""The model's query path without torch: an ONNX copy of the sentence-transformers model.

sentence-transformers owns the model and builds the index, but importing it costs seconds
(torch, transformers, scikit-learn): a one-shot `triage` would pay that for one query. So
the first process that needs the copy exports the model's transformer to ONNX, once per
model, into the cache beside the index (keyed by the model's fingerprint and
`EXPORT_VERSION`); later processes embed with `onnxruntime` and `tokenizers`, pooling and
normalising as the model's own Pooling (mean) and Normalize modules do.

The copy is checked against the model itself: when written, on probe texts (one longer
than the model reads, so truncation is checked too), and when opened, on a stored probe
vector. A copy that is missing or damaged falls back to sentence-transformers, with a
warning, which also makes the copy again; a model that cannot be exported is marked so,
and its queries always go through sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kb.embedding import (
    BatchingEmbedder,
    Embedder,
    SentenceTransformerEmbedder,
    Vectors,
    load_model,
    model_loaded,
)

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]

EXPORT_VERSION = 1  # bump when the graph, the manifest or the pooling here change
_MIN_COSINE = 0.9999  # how closely the copy must agree with the model on every probe
_PROBES = (
    "EngineCore failed to start.",
    "",
    # Longer than any max_seq_length: the copy must truncate where the model does.
    "RuntimeError: NPU function error: AclmdlRICaptureEnd, error code is 507903. " * 60,
)
_BATCH = 32
_MANIFEST = "manifest.json"
_GRAPH = "model.onnx"
_TOKENIZER = "tokenizer.json"
_FAILED = "failed.txt"
_SUPPORTED = ["Transformer", "Pooling", "Normalize"]


class _ExportError(Exception):
    """This model or this copy cannot stand in for the model (never leaves this module)."""


def export_folder(cache_dir: Path, fingerprint: str) -> Path:
    return cache_dir / f"onnx-{fingerprint}-v{EXPORT_VERSION}"


def query_embedder(embedder: Embedder, cache_dir: Path | None) -> Embedder:
    """The embedder for queries: the ONNX copy of a sentence-transformers model, else as is."""
    if cache_dir is None:
        return embedder
    if isinstance(embedder, SentenceTransformerEmbedder):
        return OnnxEmbedder(embedder, export_folder(cache_dir, embedder.fingerprint))
    if isinstance(embedder, BatchingEmbedder) and isinstance(
        embedder.inner, SentenceTransformerEmbedder
    ):
        return BatchingEmbedder(query_embedder(embedder.inner, cache_dir), embedder.max_batch)
    return embedder


@dataclass(frozen=True)
class _Runner:
    """An opened export: ONNX session, tokenizer, and what the model's modules do after."""

    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer, truncating at max_seq_length, never padding
    inputs: tuple[str, ...]
    pad_id: int
    lowercase: bool
    dim: int

    def embed(self, texts: list[str]) -> Vectors:
        if self.lowercase:
            texts = [t.lower() for t in texts]
        ids = [e.ids for e in self.tokenizer.encode_batch(texts)]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Like length together: a batch costs what its longest text costs.
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), _BATCH):
            rows = order[start : start + _BATCH]
            feed = _feed([ids[i] for i in rows], self.inputs, self.pad_id)
            (hidden,) = self.session.run(None, feed)
            # Pooling (mean over real tokens) and Normalize, as the model's modules do.
            weights = feed["attention_mask"][:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[rows] = pooled / norms
        return out


def _feed(ids: list[list[int]], inputs: Sequence[str], pad_id: int) -> dict[str, IntArray]:
    """Token ids padded on the right to the longest, with the mask the model is given."""
    width = max(len(row) for row in ids)
    tokens = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for r, row in enumerate(ids):
        tokens[r, : len(row)] = row
        mask[r, : len(row)] = 1
    feed = {"input_ids": tokens, "attention_mask": mask, "token_type_ids": np.zeros_like(mask)}
    return {name: feed[name] for name in inputs}


_OPENING = threading.Lock()
_OPENED: dict[tuple[Path, int, int], _Runner] = {}


def _open(folder: Path, fingerprint: str) -> _Runner:
    """The export in `folder`, checked on its probe; one session per process and file."""
    manifest = json.loads((folder / _MANIFEST).read_text())
    if manifest.get("version") != EXPORT_VERSION or manifest.get("model") != fingerprint:
        raise _ExportError("made for another model or export version")
    graph = (folder / _GRAPH).stat()
    key = (folder, graph.st_mtime_ns, graph.st_size)
    with _OPENING:  # threads that miss at once must not each open a session
        if key not in _OPENED:
            runner = _session(folder, manifest)
            if _cosine(runner.embed([_PROBES[0]])[0], manifest["probe"]) < _MIN_COSINE:
                raise _ExportError("its vector for the probe text is not the model's")
            _OPENED[key] = runner
        return _OPENED[key]


def _options() -> Any:
    import onnxruntime  # type: ignore[import-untyped]

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its notices are not the user's business
    # Idle worker threads would spin for CPU that others on a small machine need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _session(folder: Path, manifest: dict[str, Any]) -> _Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(folder / _GRAPH), _options(), providers=["CPUExecutionProvider"]
    )
    return _Runner(
        session=session,
        tokenizer=_tokenizer((folder / _TOKENIZER).read_text(), int(manifest["max_seq_length"])),
        inputs=tuple(manifest["inputs"]),
        pad_id=int(manifest["pad_id"]),
        lowercase=bool(manifest["lowercase"]),
        dim=int(manifest["dim"]),
    )


def _tokenizer(saved: str, max_seq_length: int) -> Any:
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_str(saved)
    tokenizer.no_padding()  # the bundled tokenizer.json pads every text to 128 tokens
    tokenizer.enable_truncation(max_seq_length)  # and cuts at 128, not at the model's 256
    return tokenizer


def _cosine(a: Vectors, b: Any) -> float:
    b = np.asarray(b, dtype=np.float32)
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


def _export(model: Any, fingerprint: str, folder: Path) -> None:
    """Write the ONNX copy of a loaded SentenceTransformer into `folder`, or raise.

    Written to a temporary folder and checked there, then renamed: a reader sees a whole,
    checked export or none. Of two processes exporting at once, the first rename wins."""
    modules = [type(m).__name__ for m in model]
    if modules != _SUPPORTED or getattr(model[1], "pooling_mode", None) != "mean":
        raise _ExportError(f"only mean-pooled, normalised models are exported, not {modules}")
    if getattr(model, "default_prompt_name", None):
        raise _ExportError("the model adds a prompt to every text")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".exporting-"))
    try:
        saved = model.tokenizer.backend_tokenizer.to_str()
        (work / _TOKENIZER).write_text(saved)
        names = model.tokenizer.model_input_names
        inputs = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in names]
        pad_id = int(model.tokenizer.pad_token_id or 0)
        # Traced on a padded batch, so the graph keeps the attention mask's general path.
        example = [e.ids for e in _tokenizer(saved, 16).encode_batch(["a b c d e f", "a"])]
        _export_graph(model[0].auto_model, _feed(example, inputs, pad_id), work / "traced.onnx")
        _optimise(work / "traced.onnx", work / _GRAPH)
        reference = model.encode(
            list(_PROBES), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        manifest = {
            "version": EXPORT_VERSION,
            "model": fingerprint,
            "inputs": inputs,
            "pad_id": pad_id,
            "lowercase": bool(getattr(model[0], "do_lower_case", False)),
            "max_seq_length": int(model.max_seq_length),
            "dim": int(reference.shape[1]),
            "probe": [float(x) for x in reference[0]],
        }
        copy = _session(work, manifest).embed(list(_PROBES))
        worst = min(_cosine(copy[i], reference[i]) for i in range(len(_PROBES)))
        if worst < _MIN_COSINE:
            raise _ExportError(f"the copy disagrees with the model (cosine {worst:.6f})")
        (work / _MANIFEST).write_text(json.dumps(manifest))
        try:
            work.replace(folder)
        except OSError:  # another process got there first: keep its export
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _export_graph(transformer: Any, example: dict[str, IntArray], path: Path) -> None:
    """The transformer's last hidden state as an ONNX graph, any batch size and length."""
    import torch

    names = list(example)

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.inner(**dict(zip(names, tensors, strict=True)))[0]
            return out

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer's notes on shapes and the exporter's deprecation notice say nothing
        # about this graph: the probes decide whether it is right.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden().eval(),
            tuple(torch.from_numpy(example[name]) for name in names),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the torch.export-based exporter needs onnxscript as well
        )


def _optimise(traced: Path, path: Path) -> None:
    """Fuse the traced graph once here, so that opening it later costs half the time.

    Only the extended level: the fusions it makes run on any CPU, where the full level's
    layout changes suit only the machine that made them."""
    import onnxruntime

    options = _options()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(path)
    onnxruntime.InferenceSession(str(traced), options, providers=["CPUExecutionProvider"])
    traced.unlink()


class OnnxEmbedder:
    """Embeds with the ONNX copy of `model` in `folder`, making it once if it is missing.

    The copy is opened at the first text, not before: opening it in a thread while the
    index loads gains nothing, as onnxruntime holds the GIL while it opens a session.
    Anything wrong with the copy falls back to the model itself.
    """

    def __init__(self, model: SentenceTransformerEmbedder, folder: Path) -> None:
        self.model = model
        self.folder = folder
        self._lock = threading.Lock()
        self._runner: _Runner | None = None
        self._chosen = False

    @property
    def fingerprint(self) -> str:
        return self.model.fingerprint  # the same vectors, to within the probes' tolerance

    @property
    def onnx(self) -> bool:
        """Whether texts go through the ONNX copy (else through sentence-transformers)."""
        return self._choose() is not None

    def embed(self, texts: list[str]) -> Vectors:
        runner = self._choose()
        return self.model.embed(texts) if runner is None else runner.embed(texts)

    def _choose(self) -> _Runner | None:
        with self._lock:
            if not self._chosen:
                self._runner = self._open_or_export()
                self._chosen = True
            return self._runner

    def _open_or_export(self) -> _Runner | None:
        failed = self.folder / _FAILED
        if failed.is_file():
            log.warning(
                "embedding with sentence-transformers (slow start): the model has no ONNX "
                "copy (%s); delete %s to try again",
                failed.read_text().strip(),
                self.folder,
            )
            return None
        if self.folder.is_dir():
            try:
                return _open(self.folder, self.model.fingerprint)
            except Exception as exc:  # any damage: truncated, wrong, half-deleted
                log.warning(
                    "the ONNX copy of the model at %s is damaged (%s): loading the model "
                    "with sentence-transformers (slow start) to make it again",
                    self.folder,
                    exc,
                )
                shutil.rmtree(self.folder, ignore_errors=True)
        elif not model_loaded(self.model.path):
            log.warning(
                "no ONNX copy of the model at %s: loading the model with "
                "sentence-transformers (slow start) to make one, once",
                self.folder,
            )
        try:
            _export(load_model(self.model.path), self.model.fingerprint, self.folder)
            return _open(self.folder, self.model.fingerprint)
        except Exception as exc:  # torch or onnx missing, an unusual model, a full disk
            log.warning("could not export the model to ONNX, using sentence-transformers: %s", exc)
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                failed.write_text(f"{type(exc).__name__}: {exc}\n")
            except OSError:
                pass  # then the next process tries again
            return None
