from pathlib import Path

import pytest

from kb import HashEmbedder, KBConfig, load, parse
from kb.embedding import Vectors
from kb.index import build

RUNBOOK = (
    "## Disk full\nSymptoms:\n- `No space left on device`\nActions:\n1. Free disk.\n"
    "## Port taken\nSymptoms:\n- `Address already in use`\nActions:\n1. Kill the old server.\n"
)


class CountingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def embed(self, texts: list[str]) -> Vectors:
        self.embedded.extend(texts)
        return super().embed(texts)


def config(tmp_path: Path, runbook: Path) -> KBConfig:
    return KBConfig(runbooks=(runbook,), hints=None, cache_dir=tmp_path / "cache")


def test_index_is_cached_on_disk_and_reused(tmp_path: Path) -> None:
    rb = tmp_path / "rb.md"
    rb.write_text(RUNBOOK)
    first = CountingEmbedder()
    load(config(tmp_path, rb), embedder=first)
    assert first.embedded
    again = CountingEmbedder()
    triager = load(config(tmp_path, rb), embedder=again)
    assert again.embedded == []  # nothing re-embedded: the cache answered
    assert (
        triager.triage("OSError: [Errno 98] Address already in use").matches[0].entry_id
        == "port-taken"
    )


def test_changed_runbook_rebuilds_and_embeds_only_what_changed(tmp_path: Path) -> None:
    rb = tmp_path / "rb.md"
    rb.write_text(RUNBOOK)
    load(config(tmp_path, rb), embedder=CountingEmbedder())
    rb.write_text(RUNBOOK.replace("Kill the old server.", "Kill the old server.\n2. Retry."))
    changed = CountingEmbedder()
    triager = load(config(tmp_path, rb), embedder=changed)
    # The changed entry's whole text is new; its symptoms and the other entry are known.
    assert changed.embedded == [triager.index.entries[1].text]
    assert triager.index.entries[1].actions == ("Kill the old server.", "Retry.")


def test_corrupt_cache_is_rebuilt_not_fatal(tmp_path: Path) -> None:
    rb = tmp_path / "rb.md"
    rb.write_text(RUNBOOK)
    triager = load(config(tmp_path, rb), embedder=CountingEmbedder())
    folder = triager.index.folder
    assert folder is not None
    (folder / "dense.faiss").write_bytes(b"garbage")
    (tmp_path / "cache").joinpath(
        next(p.name for p in (tmp_path / "cache").glob("vectors-*"))
    ).write_bytes(b"x")
    rebuilt = CountingEmbedder()
    again = load(config(tmp_path, rb), embedder=rebuilt)
    assert rebuilt.embedded  # vectors were damaged too, so they were made again
    assert again.triage("No space left on device").matches[0].entry_id == "disk-full"


def test_other_model_means_other_index(tmp_path: Path) -> None:
    rb = tmp_path / "rb.md"
    rb.write_text(RUNBOOK)
    a = build(parse([rb]), HashEmbedder(64), cache_dir=tmp_path / "c")
    b = build(parse([rb]), HashEmbedder(32), cache_dir=tmp_path / "c")
    assert a.folder != b.folder
    assert b.dense.d == 32


def test_without_a_cache_dir_nothing_is_written(tmp_path: Path) -> None:
    rb = tmp_path / "rb.md"
    rb.write_text(RUNBOOK)
    index = build(parse([rb]), HashEmbedder(), cache_dir=None)
    assert index.folder is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rb.md"]


def test_reordered_runbooks_do_not_reuse_an_index_built_in_another_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    a.write_text("## Alpha failure\nSymptoms:\n- `AlphaSpecificError`\nActions:\n1. a\n")
    b.write_text("## Beta failure\nSymptoms:\n- `BetaSpecificError`\nActions:\n1. b\n")
    cfg = KBConfig(runbooks=(a, b), hints=None, cache_dir=tmp_path / "cache")
    load(cfg, embedder=HashEmbedder())
    swapped = load(cfg.model_copy(update={"runbooks": (b, a)}), embedder=HashEmbedder())
    answer = swapped.triage("BetaSpecificError: boom")
    assert answer.matches[0].entry_id == "beta-failure"


def test_an_index_made_by_another_tokenizer_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upgrade that changes how BM25 splits words must not read the old cached index.
    rb = tmp_path / "rb.md"
    rb.write_text(RUNBOOK)
    before = build(parse([rb]), HashEmbedder(), cache_dir=tmp_path / "c")
    monkeypatch.setattr("kb.index.lexical_fingerprint", lambda: "another tokenizer")
    after = build(parse([rb]), HashEmbedder(), cache_dir=tmp_path / "c")
    assert before.folder != after.folder
