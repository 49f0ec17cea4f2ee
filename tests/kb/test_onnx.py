"""The ONNX copy of the model: the same vectors as sentence-transformers, no torch to start.

Queries go through the copy; the model itself (sentence-transformers) builds the index. So
the copy must give the model's vectors for every text triage meets, and a damaged or
missing copy must fall back to the model, never give other vectors or fail.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb import DEFAULT_RUNBOOK, SentenceTransformerEmbedder, Triager, parse
from kb.onnx_export import OnnxEmbedder, export_folder

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "data" / "triage_cases"
PASTE = """\
(EngineCore_DP0 pid=1300) ERROR 11-28 10:05:01 [core.py:700] EngineCore failed to start.
(EngineCore_DP0 pid=1300) ERROR 11-28 10:05:01 [core.py:700] RuntimeError: capture_end: NPU function error: c10_npu::acl::AclmdlRICaptureEnd(capture_stream_, &model_ri), error code is 507903
(APIServer pid=1201) RuntimeError: Engine core initialization failed. See root cause above.
"""
HEAVY = ("torch", "sentence_transformers", "faiss")


@pytest.fixture(scope="module")
def model() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(None)


@pytest.fixture(scope="module")
def copy(triager: Triager, model: SentenceTransformerEmbedder) -> Path:
    """The export the shared test cache holds once triage has embedded a query."""
    triager.triage(PASTE)
    assert triager.index.folder is not None
    folder = export_folder(triager.index.folder.parent, model.fingerprint)
    assert (folder / "manifest.json").is_file()
    return folder


def corpus() -> list[str]:
    texts = [
        json.loads(line)["text"][:200]
        for path in sorted(CASES.glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    for entry in parse([DEFAULT_RUNBOOK]):
        # Whole entries run past the model's 256 tokens: truncation must match too.
        texts += [entry.text, entry.title, *entry.symptoms]
    return texts


@pytest.mark.slow
def test_the_copy_embeds_every_corpus_text_as_the_model_does(
    copy: Path, model: SentenceTransformerEmbedder
) -> None:
    texts = corpus()
    onnx = OnnxEmbedder(model, copy)
    assert onnx.onnx  # the copy, not the model behind it
    got, want = onnx.embed(texts), model.embed(texts)
    cosines = (got * want).sum(axis=1)
    worst = int(np.argmin(cosines))
    print(f"{len(texts)} texts, lowest cosine {cosines[worst]:.7f}")
    assert cosines[worst] >= 0.999, texts[worst]
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_a_damaged_copy_falls_back_to_the_model_and_is_made_again(
    copy: Path, model: SentenceTransformerEmbedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / copy.name
    shutil.copytree(copy, folder)
    graph = folder / "model.onnx"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="kb.onnx_export"):
        vectors = OnnxEmbedder(model, folder).embed([PASTE])
    assert "damaged" in caplog.text
    assert float(vectors[0] @ model.embed([PASTE])[0]) >= 0.999
    assert OnnxEmbedder(model, folder).onnx  # made again: the next process starts fast


@pytest.mark.slow
def test_a_model_that_could_not_be_exported_is_embedded_by_sentence_transformers(
    model: SentenceTransformerEmbedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "onnx-x-v1"
    folder.mkdir()
    (folder / "failed.txt").write_text("OnnxExporterError: Module onnx is not installed!\n")
    embedder = OnnxEmbedder(model, folder)
    with caplog.at_level(logging.WARNING, logger="kb.onnx_export"):
        vectors = embedder.embed([PASTE])
    assert not embedder.onnx
    assert "onnx is not installed" in caplog.text
    assert np.allclose(vectors, model.embed([PASTE]))


def run_cli(args: list[str], cache: Path, stdin: str = "") -> tuple[dict[str, object], list[str]]:
    """`ascend-oncall ARGS` as a fresh process: its output, and which heavy modules it loaded."""
    script = (
        "import json, sys\n"
        "from bot.cli import main\n"
        f"sys.argv = ['ascend-oncall', *{args!r}]\n"
        "try:\n    main()\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'code': code}), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    env |= {"ONCALL_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return {"stdout": done.stdout}, report["heavy"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args", [["triage", "-", "--json"], ["kb", "search", "--json", "AclmdlRICaptureEnd", "507903"]]
)
def test_triage_and_search_with_a_warm_cache_load_neither_torch_nor_sentence_transformers(
    args: list[str], copy: Path
) -> None:
    out, heavy = run_cli(args, copy.parent, stdin=PASTE)
    answer = json.loads(str(out["stdout"]))
    best = answer["matches"][0] if isinstance(answer, dict) else answer[0]
    assert best["entry_id"] == "acl-graph-capture-fails-507903"
    assert "torch" not in heavy
    assert "sentence_transformers" not in heavy


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["kb", "lint"], ["kb", "--help"]])
def test_help_and_lint_load_no_model_and_no_index(args: list[str], tmp_path: Path) -> None:
    out, heavy = run_cli(args, tmp_path)
    assert out["stdout"]
    assert heavy == []
