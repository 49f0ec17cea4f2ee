"""Triage quality with the real embedding model: each split gated on its own, never pooled.

Real logs (tests/data/real): `heldout` and `dev` are what the bar is about (logs nobody shaped
the engine on; held-out misses are never listed), `tune` is what hints and calibration may
look at. The self-written corpus (tests/data/triage_cases) stays as a regression suite for
the mechanisms it names. Each bar is the figure reached, a little under it for noise: raise
it when the engine gets better, never lower it to let a change through.
"""

import json
from pathlib import Path

import pytest

from kb import HELD_OUT, Triager, evaluate, load_cases, resolve

DATA = Path(__file__).parents[1] / "data"
REAL = DATA / "real"
WRITTEN = DATA / "triage_cases"

# split: (top-1 on clear positives, top-3, abstain on negatives). Measured 2026-12-08 on
# 772 real logs: real heldout 72.7 / 80.8 / 86.0 %, dev 71.4 / 90.5 / 89.5 %, tune 83.0 /
# 89.1 / 92.6 %. The batches `n4` to `n13` were scored before anyone read them, then joined
# the splits by thread (`n12` 77.8 / 95.0 / 90.0 %, `n13` 25.0 / 72.2 / 72.4 %); a second
# labeller, blind to the first label and to the row's id, labelled `n3` to `n13` again,
# and the rows where the two differ are AMBIGUOUS (top-3 only). Most misses are pastes cut
# before their exception, labelled from the thread. The bar for held-out real logs
# is 80 / 92 / 80: top-1 and top-3 are not reached.
REAL_BARS = {
    HELD_OUT: (0.72, 0.80, 0.86),
    "dev": (0.71, 0.90, 0.89),
    "tune": (0.83, 0.89, 0.92),
}
# Self-written: blind 96.1 / 100 / 90.0, heldout 97.1 / 100 / 94.1, tune 98.5 / 100 / 100
# (the morning: 92.2 / 100 / 95.0, 97.1 / 100 / 88.2, 98.5 / 100 / 100).
WRITTEN_BARS = {
    "heldout": (0.97, 1.0, 0.94),
    "blind": (0.96, 1.0, 0.90),
    "tune": (0.98, 1.0, 1.0),
}


def cases(folder: Path, triager: Triager) -> list:  # type: ignore[type-arg]
    found = [c for f in sorted(folder.glob("*.jsonl")) for c in load_cases(f)]
    return resolve(found, triager.index.entries)


@pytest.fixture(scope="module")
def real(triager: Triager):  # type: ignore[no-untyped-def]
    return evaluate(cases(REAL, triager), triager.triage)


@pytest.fixture(scope="module")
def written(triager: Triager):  # type: ignore[no-untyped-def]
    return evaluate(cases(WRITTEN, triager), triager.triage)


def test_the_real_corpus_is_big_split_by_thread_and_sourced(triager: Triager) -> None:
    rows = [json.loads(x) for f in sorted(REAL.glob("*.jsonl")) for x in f.read_text().splitlines()]
    assert all(r.get("source", "").strip() for r in rows)
    beyond_dev = [
        r
        for f in ("tune", HELD_OUT)
        for r in map(json.loads, (REAL / f"{f}.jsonl").read_text().splitlines())
    ]
    assert len(beyond_dev) >= 150
    assert sum(1 for r in beyond_dev if r["expected"] is None) >= 50
    threads = {
        split: {
            r["source"].split("#")[0].rstrip("/")
            for r in map(json.loads, (REAL / f"{split}.jsonl").read_text().splitlines())
        }
        for split in ("tune", HELD_OUT, "dev")
    }
    assert not threads["tune"] & threads[HELD_OUT]
    assert not threads["dev"] & threads[HELD_OUT]
    cases(REAL, triager)  # every expected entry exists (resolve raises otherwise)


@pytest.mark.parametrize("split", sorted(REAL_BARS))
def test_real_logs_meet_the_bar_of_their_split(real, split: str) -> None:  # type: ignore[no-untyped-def]
    report = real.split(split)
    m = report.metrics()
    top1, top3, abstain = REAL_BARS[split]
    misses = [] if split == HELD_OUT else [o.case.id for o in report.failures()]
    assert m["top1"] >= top1, (m, misses)
    assert m["top3"] >= top3, (m, misses)
    assert m["abstain"] >= abstain, (m, misses)


@pytest.mark.parametrize("split", sorted(WRITTEN_BARS))
def test_the_self_written_corpus_keeps_its_bar(written, split: str) -> None:  # type: ignore[no-untyped-def]
    report = written.split(split)
    m = report.metrics()
    top1, top3, abstain = WRITTEN_BARS[split]
    misses = [o.case.id for o in report.failures()]
    assert m["top1"] >= top1, (m, misses)
    assert m["top3"] >= top3, (m, misses)
    assert m["abstain"] >= abstain, (m, misses)


def test_self_written_corpus_names_every_entry(triager: Triager) -> None:
    found = cases(WRITTEN, triager)
    per_entry = {e.id: sum(1 for c in found if c.expected == e.id) for e in triager.index.entries}
    assert min(per_entry.values()) >= 3, per_entry
    assert sum(1 for c in found if c.expected is None) >= 20


def top(triager: Triager, paste: str) -> str | None:
    result = triager.triage(paste)
    return result.matches[0].entry_id if result.verdict == "match" else None


BIND = "server-fails-to-bind-on-8000-or-fails-with-hccl-bind-errors"


@pytest.mark.parametrize(
    ("paste", "expected"),
    [
        (
            "EJ0003: [PID: 159] 2026-11-28-10:00:00.000.000 Failed to bind the IP port. "
            "Reason: The IP address and port have been bound already.",
            BIND,
        ),
        (
            "EI0002: [PID: 311] The wait execution of the Notify register times out. "
            "Reason: The Notify register has not received the Notify record from remote rank [3].\n"
            "RuntimeError: HCCL function error: HcclAllReduce, error code is 9 ERR02200 DIST call hccl api failed.",
            None,
        ),
    ],
)
def test_hccl_bind_is_not_confused_with_hccl_timeout(
    triager: Triager, paste: str, expected: str | None
) -> None:
    assert top(triager, paste) == expected


def test_507903_is_not_confused_with_other_acl_codes(triager: Triager) -> None:
    capture = (
        "RuntimeError: capture_end:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:152 NPU function "
        "error: c10_npu::acl::AclmdlRICaptureEnd(capture_stream_, &model_ri), error code is 507903"
    )
    vector_core = (
        "RuntimeError: ACL stream synchronize failed, error code:507035\n"
        "EZ9999: Inner Error!\nEZ9999: The vector core execution is abnormal."
    )
    assert top(triager, capture) == "acl-graph-capture-fails-507903"
    assert top(triager, vector_core) is None


STARTUP = (
    "(APIServer pid=1) INFO 11-28 10:00:00 [api_server.py:1912] Starting vLLM API server 0 on http://0.0.0.0:8000\n"
    "(APIServer pid=1) INFO:     Application startup complete.\n"
)
DEATH = (
    "(EngineCore_DP0 pid=2) ERROR {t} [core.py:710] EngineCore encountered a fatal error.\n"
    "(EngineCore_DP0 pid=2) ERROR {t} [core.py:710] TimeoutError: RPC call to execute_model timed out.\n"
    "(APIServer pid=1) ERROR {t} [async_llm.py:480] vllm.v1.engine.exceptions.EngineDeadError: "
    "EngineCore encountered an issue. See stack trace (above) for the root cause.\n"
    '(APIServer pid=1) INFO:     127.0.0.1:4 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error\n'
)


def test_engine_dead_right_after_startup_vs_after_hours_of_serving(triager: Triager) -> None:
    first = STARTUP + DEATH.format(t="11-28 10:00:30")
    served = "".join(
        f"(APIServer pid=1) INFO 11-28 {10 + i // 6:02d}:{i % 6}0:00 [loggers.py:123] Engine 000: "
        f"Avg prompt throughput: 812.4 tokens/s, Running: 12 reqs\n"
        for i in range(40)
    )
    later = STARTUP + served + DEATH.format(t="11-28 17:02:11")
    assert top(triager, first) == "false-ready-startup-succeeds-but-first-request-crashes"
    assert top(triager, later) is None


def test_dynamo_error_on_a_text_model_is_not_the_vl_interpolate_case(triager: Triager) -> None:
    vl = (
        "torch._dynamo.exc.TorchRuntimeError: Failed running call_function "
        "<function interpolate at 0xffff>(*(FakeTensor(..., device='npu:0', size=(1, 3, 448, 448)),)):\n"
        "NPU contiguous operator only supported contiguous memory format."
    )
    text_only = (
        "torch._dynamo.exc.Unsupported: Graph break due to unsupported builtin "
        "mylib.fused_swiglu_quant. This function is either a Python builtin or a third-party C/C++ extension\n"
        "Set TORCHDYNAMO_VERBOSE=1 for the internal stack trace"
    )
    assert top(triager, vl) == "vl-torchdynamo-interpolate-contiguous-failure"
    assert top(triager, text_only) is None


def test_config_entries_match_on_commands_and_responses(triager: Triager) -> None:
    flashcomm = (
        "VLLM_ASCEND_ENABLE_FLASHCOMM1=1 vllm serve /models/Qwen2.5-VL-72B-Instruct -tp 8\n"
        "startup fails right after loading, is flashcomm1 supported on this model?"
    )
    template = (
        '{"choices":[{"index":0,"message":{"role":"assistant","content":"<|im_start|>assistant\\n'
        'Hello<|im_end|><|im_start|>user"},"finish_reason":"length"}]}\n'
        "status 200 but the answer has these tags in it"
    )
    assert top(triager, flashcomm) == "flashcomm1-mtp-confusion-on-vl-checkpoints"
    assert top(triager, template) == "api-reachable-but-output-quality-odd"


def test_middle_of_a_traceback_names_the_likely_entry_and_says_the_end_is_missing(
    triager: Triager,
) -> None:
    middle = (
        '  File "/vllm-workspace/vllm/vllm/multimodal/processing.py", line 1257, in _call_hf_processor\n'
        "    return self.info.ctx.call_hf_processor(\n"
        '  File "/usr/local/lib/python3.11/site-packages/transformers/feature_extraction_utils.py", line 81, in __init__\n'
        "    self.convert_to_tensors(tensor_type=tensor_type, skip_tensor_conversion=skip_tensor_conversion)\n"
    )
    result = triager.triage(middle)
    assert result.partial
    assert (
        result.matches[0].entry_id
        == "multimodal-processor-signature-mismatch-skip-tensor-conversion"
    )
    assert result.matches[0].confidence != "high"
    assert any("last lines" in n for n in result.notes)


def test_unrelated_chat_is_no_match_and_root_cause_is_reported(triager: Triager) -> None:
    result = triager.triage("hey, can someone review my PR for the docs typo? thanks!")
    assert result.verdict == "no_match"
    oom = triager.triage(
        "[rank0]: torch.OutOfMemoryError: NPU out of memory. Tried to allocate 2.00 GiB "
        "(NPU 0; 60.96 GiB total capacity; 58.10 GiB already allocated)"
    )
    assert oom.verdict == "no_match"
    assert oom.signature and oom.signature.startswith("torch.OutOfMemoryError: NPU out of memory")


def test_a_runner_that_saw_the_first_request_kill_the_engine_names_false_ready(
    triager: Triager,
) -> None:
    # The lines around the first error alone name a kernel problem; what the runner saw
    # (ready, then the first request died) is what makes it the false-ready entry.
    excerpt = (
        "ERROR 12-01 05:07:02 [multiproc_executor.py:839] WorkerProc hit an exception.\n"
        "ERROR 12-01 05:07:02 [multiproc_executor.py:839] RuntimeError: Unsupported CPU "
        "attention configuration: head_dim=16 isa=2 kv_cache_idx=0\n"
    )
    seen = triager.triage(excerpt, observed=frozenset({"@first-request-crash"}))
    assert seen.verdict == "match"
    assert seen.matches[0].entry_id == "false-ready-startup-succeeds-but-first-request-crashes"
    assert seen.signature and "Unsupported CPU attention configuration" in seen.signature
    alone = triager.triage(excerpt)
    assert not (
        alone.verdict == "match"
        and alone.matches[0].entry_id == "false-ready-startup-succeeds-but-first-request-crashes"
    )
