"""BatchingEmbedder: concurrent callers share forward passes and each gets its own rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from kb import BatchingEmbedder, HashEmbedder
from kb.embedding import Vectors


class _Counting(HashEmbedder):
    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.fail_on = fail_on
        self.gate = threading.Event()

    def embed(self, texts: list[str]) -> Vectors:
        self.gate.wait(5)
        self.calls.append(len(texts))
        if self.fail_on in texts:
            raise RuntimeError("model broke")
        return super().embed(texts)


def _run_all(embedder: BatchingEmbedder, inputs: list[list[str]]) -> list[object]:
    results: list[object] = [None] * len(inputs)

    def one(i: int) -> None:
        try:
            results[i] = embedder.embed(inputs[i])
        except RuntimeError as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    embedder.inner.gate.set()  # type: ignore[attr-defined]
    for t in threads:
        t.join(10)
    return results


def test_concurrent_callers_get_their_own_rows_from_fewer_passes() -> None:
    inner = _Counting()
    inputs = [[f"text {i}", f"other {i}"] for i in range(30)]
    results = _run_all(BatchingEmbedder(inner, max_batch=16), inputs)
    plain = HashEmbedder()
    for got, texts in zip(results, inputs, strict=True):
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, plain.embed(texts))
    assert sum(inner.calls) == 60
    assert len(inner.calls) < 30
    assert max(inner.calls) <= 16


def test_a_failed_pass_reaches_every_caller_in_it_and_nobody_hangs() -> None:
    inner = _Counting(fail_on="bad")
    embedder = BatchingEmbedder(inner)
    results: dict[str, object] = {}

    def one(text: str) -> None:
        try:
            results[text] = embedder.embed([text])
        except RuntimeError as exc:
            results[text] = exc

    leader = threading.Thread(target=one, args=("first",))
    leader.start()  # holds the model (gate closed) while the others queue up
    while not embedder._busy:
        time.sleep(0.001)
    followers = [threading.Thread(target=one, args=(t,)) for t in ("bad", "good", "fine")]
    for t in followers:
        t.start()
    while len(embedder._queue) < 3:
        time.sleep(0.001)
    inner.gate.set()
    for t in [leader, *followers]:
        t.join(10)
    assert inner.calls == [1, 3]  # the three queued texts went in one pass
    assert isinstance(results["first"], np.ndarray)
    assert all(isinstance(results[t], RuntimeError) for t in ("bad", "good", "fine"))


def test_a_lone_caller_is_served_at_once_and_sees_errors() -> None:
    inner = _Counting(fail_on="x")
    inner.gate.set()
    embedder = BatchingEmbedder(inner)
    assert embedder.embed(["a", "b"]).shape[0] == 2
    with pytest.raises(RuntimeError, match="model broke"):
        embedder.embed(["x"])
    assert embedder.embed(["c"]).shape[0] == 1  # still usable after a failure
    assert inner.calls == [2, 1, 1]
