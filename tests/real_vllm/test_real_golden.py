"""Known-good replies and graph vs eager against a REAL `vllm serve` (CPU build, a tiny model
with dummy weights). Dummy weights answer random text, which the answer checks do not
judge; but vLLM fills them from a fixed seed, so the replies are the same run after run and
comparisons still work: a run records them, the same model with another dtype is reported
as answering differently, and a compiled run is compared with the eager one.

    .venv/bin/pytest -m real_vllm tests/real_vllm/test_real_golden.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runners import FileBook, JobSpec, RunnerConfig, RunResult, settle_replies
from runners.run.vllm_process import Server
from tests.real_vllm.test_real_vllm import (  # noqa: F401  (fixtures)
    EAGER,
    TINY,
    VLLM,
    WHY_NOT,
    Models,
    config,
    launched,
    models,
    run,
)

pytestmark = [pytest.mark.real_vllm, pytest.mark.skipif(VLLM is None, reason=WHY_NOT)]


def smoke(
    config: RunnerConfig,  # noqa: F811
    launched: list[Server],  # noqa: F811
    model: Path,
    args: tuple[str, ...],
    golden: bool = False,
) -> RunResult:
    done = run(config, launched, model, args)
    assert done.result.status == "passed", done.explain()
    spec = JobSpec(playbook="smoke", model=str(model), args=args, record_golden=golden)
    return settle_replies(done.result, spec, FileBook.under(config.work_dir))


def test_recorded_replies_then_another_dtype_then_compiled_beside_eager(
    config: RunnerConfig,  # noqa: F811
    launched: list[Server],  # noqa: F811
    models: Models,  # noqa: F811
) -> None:
    recorded = smoke(config, launched, models.healthy, EAGER, golden=True)
    assert recorded.answers is not None and recorded.answers.revision.startswith("sha256:")
    assert any("known-good replies recorded for tiny-llama" in n for n in recorded.notes)

    fp32 = smoke(config, launched, models.healthy, (*EAGER, "--dtype", "float32"))
    assert fp32.answers is not None and fp32.answers.revision == recorded.answers.revision
    [known] = fp32.answers.comparisons
    assert known.kind == "known-good" and known.differs, known
    assert known.changed == ["flags: --dtype float32 (known-good: none)"]
    assert "answers differ from the known-good run of" in fp32.verdict
    assert fp32.status == "passed"  # another dtype: expected to differ, shown, not failed

    compiled = smoke(config, launched, models.healthy, TINY)
    assert compiled.answers is not None
    [beside] = compiled.answers.comparisons  # the eager run is also the known-good one
    assert beside.kind == "graph-vs-eager" and "the known-good run" in beside.against
    compared = len(beside.matched) + len(beside.diffs)
    assert compared == len([p for p in compiled.answers.probes if p.error is None])
