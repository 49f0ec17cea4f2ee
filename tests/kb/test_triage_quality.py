"""Triage quality with the real embedding model, on the labelled corpus and on near misses."""

from pathlib import Path

import pytest

from kb import Triager, evaluate, load_cases

CASES = Path(__file__).parents[1] / "data" / "triage_cases"


def corpus() -> list:  # type: ignore[type-arg]
    return [c for f in sorted(CASES.glob("*.jsonl")) for c in load_cases(f)]


def test_corpus_is_big_enough_and_a_third_is_held_out(triager: Triager) -> None:
    cases = corpus()
    ids = {e.id for e in triager.index.entries}
    per_entry = {i: sum(1 for c in cases if c.expected == i) for i in ids}
    assert min(per_entry.values()) >= 3, per_entry
    assert sum(1 for c in cases if c.expected is None) >= 20
    tuned = [c for c in cases if c.split == "tune"]
    assert len(tuned) <= 2 * len(cases) / 3 + 1
    assert {c.expected for c in cases} - {None} <= ids


def test_whole_corpus_meets_the_bar(triager: Triager) -> None:
    report = evaluate(corpus(), triager.triage)
    m = report.metrics()
    misses = [o.case.id for o in report.failures()]
    assert m["top1"] >= 0.90, (m, misses)
    assert m["top3"] >= 0.98, (m, misses)
    assert m["abstain"] >= 0.90, (m, misses)


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
