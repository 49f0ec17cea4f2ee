"""The hybrid index: signatures, BM25 and dense vectors over runbook entries.

Built from entries, hints and learned examples; saved under a folder named by a key of
everything that shapes it (schema, model, the BM25 tokenizer's code, content hashes), with
a manifest beside it, so a changed runbook, model or tokenizer is noticed by the key
alone. Vectors are also kept by text hash, so a rebuild embeds only texts it has not
seen. A cache that fails to load is rebuilt, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from kb.embedding import Embedder, Vectors
from kb.errors import KBError
from kb.hints import Hint
from kb.lexical import Lexical
from kb.lexical import fingerprint as lexical_fingerprint
from kb.onnx_export import query_embedder
from kb.runbook import Entry
from kb.signatures import Signature, learned

if TYPE_CHECKING:
    import faiss  # imported where an index is made or read: `kb lint` never needs it

log = logging.getLogger(__name__)

SCHEMA = 2  # 2: entries kept in order (rows of the saved index follow it)
_KEEP_OLD_INDEXES = 3


@dataclass(frozen=True)
class Example:
    """A text that is known to belong to an entry: a hint, or a user's correction.

    `signature` is the root-cause line the reader found in it, if any: a correction with
    one teaches that line as a signature of the entry.
    """

    entry_id: str
    text: str
    signature: str | None = None


@dataclass(frozen=True)
class Index:
    entries: tuple[Entry, ...]
    signatures: tuple[tuple[Signature, ...], ...]  # per entry: its own and its hints'
    against: tuple[frozenset[str], ...]  # per entry: facts that speak against it
    lexical: Lexical
    dense: faiss.Index  # one row per view of an entry
    view_entry: npt.NDArray[np.int64]  # row -> entry position
    whole: faiss.Index  # one row per whole entry: the dense-only baseline
    embedder: Embedder
    folder: Path | None


_CONTEXT_FACTOR = 0.25


def _signatures(
    entries: Sequence[Entry],
    hints: dict[str, Hint],
    background: Sequence[str],
    examples: Sequence[Example] = (),
) -> tuple[tuple[Signature, ...], ...]:
    """Each entry's signatures; those a healthy log also shows prove little, so count less.

    A learned example's root-cause line becomes a signature of the entry the user chose;
    when the same line was taught to two entries, the later correction wins.
    """
    lowered = [line.lower() for line in background]
    latest: dict[tuple[str, ...], tuple[str, Signature]] = {}
    for x in examples:  # oldest first
        sig = learned(x.signature) if x.signature else None
        if sig is not None:
            latest[sig.fragments] = (x.entry_id, sig)
    taught: dict[str, list[Signature]] = {}
    for entry_id, sig in latest.values():
        taught.setdefault(entry_id, []).append(sig)
    out = []
    for e in entries:
        sigs = []
        for sig in e.signatures + hints.get(e.id, Hint()).signatures + tuple(taught.get(e.id, ())):
            if any(sig.find(line) for line in lowered):
                sig = replace(sig, weight=round(sig.weight * _CONTEXT_FACTOR, 3))
            sigs.append(sig)
        out.append(tuple(sigs))
    return tuple(out)


def _strip_code(text: str) -> str:
    return re.sub(r"```.*?```", "", text, flags=re.S)


def _views(entry: Entry, examples: Sequence[str]) -> list[str]:
    """Short texts for dense search: an entry matches a paste if any view does."""
    views = [f"{entry.title}. " + " ".join(entry.symptoms)]
    views += [f"{entry.title}: {s}" for s in entry.symptoms]
    views += list(examples)
    return views


def _document(entry: Entry, signatures: Sequence[Signature], examples: Sequence[str]) -> str:
    parts = [entry.title, *entry.symptoms, *(_strip_code(a) for a in entry.actions)]
    parts += [s.text for s in signatures if not s.text.startswith("@")]
    parts += list(examples)
    return "\n".join(parts)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _flat(vectors: Vectors) -> faiss.Index:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


class _VectorStore:
    """Embeddings by text hash, per model, so a rebuild embeds only new texts."""

    def __init__(self, cache_dir: Path | None, embedder: Embedder) -> None:
        self.embedder = embedder
        self.path = cache_dir / f"vectors-{embedder.fingerprint}.npz" if cache_dir else None
        self.known: dict[str, Vectors] = {}
        if self.path and self.path.is_file():
            try:
                with np.load(self.path) as data:
                    self.known = {k: data[k] for k in data.files}
            except Exception as exc:  # a damaged cache (bad zip, bad pickle) is rebuilt
                log.warning("vector cache %s unreadable, re-embedding: %s", self.path, exc)

    def embed(self, texts: list[str]) -> Vectors:
        hashes = [_hash(t) for t in texts]
        missing = sorted(
            {h: t for h, t in zip(hashes, texts, strict=True) if h not in self.known}.items()
        )
        if missing:
            fresh = self.embedder.embed([t for _, t in missing])
            self.known.update({h: fresh[i] for i, (h, _) in enumerate(missing)})
            self._save()
        return np.stack([self.known[h] for h in hashes]).astype(np.float32)

    def _save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                dir=self.path.parent, suffix=".npz", delete=False
            ) as f:
                np.savez(f, **self.known)  # type: ignore[arg-type]
            Path(f.name).replace(self.path)
        except OSError as exc:
            log.warning("could not write vector cache %s: %s", self.path, exc)


def manifest_of(
    entries: Sequence[Entry],
    hints: dict[str, Hint],
    examples: Sequence[Example],
    embedder: Embedder,
) -> dict[str, object]:
    return {
        "schema": SCHEMA,
        "model": embedder.fingerprint,
        "lexical": lexical_fingerprint(),
        "entries": [[e.id, e.content_hash] for e in entries],
        "hints": _hash(repr(sorted((k, repr(v)) for k, v in hints.items()))),
        "examples": _hash(repr(sorted((x.entry_id, x.text, x.signature or "") for x in examples))),
    }


def build(
    entries: Sequence[Entry],
    embedder: Embedder,
    hints: dict[str, Hint] | None = None,
    examples: Sequence[Example] = (),
    cache_dir: Path | None = None,
    background: Sequence[str] = (),
) -> Index:
    """The index for these entries, loaded from the cache when it matches, else built."""
    if not entries:
        raise KBError("the runbooks hold no entries: nothing to triage against")
    hints = {k: v for k, v in (hints or {}).items() if any(e.id == k for e in entries)}
    manifest = manifest_of(entries, hints, examples, embedder)
    key = _hash(json.dumps(manifest, sort_keys=True))
    folder = cache_dir / f"index-{key}" if cache_dir else None
    # The model embeds the index; queries go through its ONNX copy (kb/onnx_export.py).
    queries = query_embedder(embedder, cache_dir)
    if folder and folder.is_dir():
        try:
            return _load(folder, manifest, entries, hints, queries, background, examples)
        except Exception as exc:
            log.warning("index cache %s is damaged, rebuilding: %s", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    store = _VectorStore(cache_dir, embedder)
    by_entry: dict[str, list[str]] = {e.id: list(hints.get(e.id, Hint()).examples) for e in entries}
    for x in examples:
        if x.entry_id in by_entry:
            by_entry[x.entry_id].append(x.text)
    views: list[str] = []
    owner: list[int] = []
    for i, e in enumerate(entries):
        for v in _views(e, by_entry[e.id]):
            views.append(v)
            owner.append(i)
    signatures = _signatures(entries, hints, background, examples)
    lexical = Lexical.build(
        [_document(e, sigs, by_entry[e.id]) for e, sigs in zip(entries, signatures, strict=True)]
    )
    index = Index(
        entries=tuple(entries),
        signatures=signatures,
        against=tuple(hints.get(e.id, Hint()).against for e in entries),
        lexical=lexical,
        dense=_flat(store.embed(views)),
        view_entry=np.asarray(owner, dtype=np.int64),
        whole=_flat(store.embed([e.text for e in entries])),
        embedder=queries,
        folder=folder,
    )
    if folder:
        _save(index, folder, manifest)
    return index


def _save(index: Index, folder: Path, manifest: dict[str, object]) -> None:
    import faiss

    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".building-"))
    try:
        index.lexical.save(work / "bm25")
        faiss.write_index(index.dense, str(work / "dense.faiss"))
        faiss.write_index(index.whole, str(work / "whole.faiss"))
        np.save(work / "view_entry.npy", index.view_entry)
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        work.replace(folder)
    except OSError as exc:
        log.warning("could not write index cache %s: %s", folder, exc)
        shutil.rmtree(work, ignore_errors=True)
        return
    old = sorted(folder.parent.glob("index-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[_KEEP_OLD_INDEXES:]:
        shutil.rmtree(stale, ignore_errors=True)


def _load(
    folder: Path,
    manifest: dict[str, object],
    entries: Sequence[Entry],
    hints: dict[str, Hint],
    embedder: Embedder,
    background: Sequence[str],
    examples: Sequence[Example],
) -> Index:
    import faiss

    saved = json.loads((folder / "manifest.json").read_text())
    if saved != manifest:
        raise ValueError("manifest does not match")
    dense = faiss.read_index(str(folder / "dense.faiss"))
    view_entry = np.load(folder / "view_entry.npy")
    if dense.ntotal != len(view_entry) or (view_entry >= len(entries)).any():
        raise ValueError("dense index and its view table disagree")
    return Index(
        entries=tuple(entries),
        signatures=_signatures(entries, hints, background, examples),
        against=tuple(hints.get(e.id, Hint()).against for e in entries),
        lexical=Lexical.load(folder / "bm25"),
        dense=dense,
        view_entry=view_entry,
        whole=faiss.read_index(str(folder / "whole.faiss")),
        embedder=embedder,
        folder=folder,
    )
