"""From a finished run to its one-line verdict and the next playbook worth running
(vllm-runtime.md section 8, step 10, and the runbook's fallback ladder). Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from runners.run.result import NextStep, RunResult

GRAPH_STAGES = ("compiling", "profiling", "capturing graphs", "graphs captured")
_KV_ESTIMATE = re.compile(r"estimated maximum model length is (\d+)")
_DERIVED_MAX = re.compile(r"derived max_model_len \(max_position_embeddings=(\d+)")
_CAPTURE = re.compile(
    r"507903|invalidated the stream capture sequence|207008|Stream resources are insufficient|"
    r"ACL graph capture failed"
)
_DYNAMO_CONTIGUOUS = re.compile(r"NPU contiguous operator only supported contiguous memory format")
_MM_PROCESSOR = re.compile(r"skip_tensor_conversion")
_INFRA = re.compile(
    r"EJ0003|EI0019|EI0020|Failed to bind the IP port|Address already in use|"
    r"address already in use|Timed out waiting for engine core processes to start|"
    r"on startup is less than desired"
)
_NO_RELAUNCH = re.compile(
    r"are not supported for now\. Supported architectures|failed to be inspected|"
    r"was supported in vLLM until"
)


def _graph_mode(result: RunResult) -> bool:
    return "--enforce-eager" not in result.argv


def classify(result: RunResult, log: Sequence[str]) -> tuple[str, NextStep | None]:
    """(verdict line, next step) for `result`, whose pre-stop log lines are `log`."""
    text = "\n".join(log)
    playbook = result.playbook
    if result.status == "passed":
        if playbook == "eager":
            return (
                "passed with --enforce-eager: the failure is graph-only",
                NextStep(
                    playbook="fallback",
                    fallback="hccl-aiv",
                    reason="graph-only: back to graph mode with HCCL_OP_EXPANSION_MODE=AIV",
                    alternatives=_shorter_len(result, text),
                ),
            )
        if playbook == "fallback":
            return (
                f"passed with fallback {result.spec.fallback if result.spec else ''}: "
                "record it as the current fallback path",
                None,
            )
        return "passed: ready, and the smoke requests were answered", None
    if result.status == "blocked":
        return "blocked: the host was not ready for a run (see notes)", None
    if result.status == "cancelled":
        return "cancelled", None
    if result.status == "failed" and result.answers is not None and result.answers.failed:
        return _quality(result)
    if m := _KV_ESTIMATE.search(text):
        return (
            "failed: the KV cache cannot hold --max-model-len",
            NextStep(
                playbook="fallback",
                fallback=f"max-model-len={m.group(1)}",
                reason=f"the error estimates a maximum model length of {m.group(1)}",
            ),
        )
    if m := _DERIVED_MAX.search(text):
        return (
            "failed: --max-model-len is beyond the model's config",
            NextStep(
                playbook="fallback",
                fallback=f"max-model-len={m.group(1)}",
                reason=f"the model's config allows {m.group(1)}",
            ),
        )
    if _NO_RELAUNCH.search(text):
        return "failed: vLLM does not know this architecture; no relaunch helps", None
    if _INFRA.search(text):
        return (
            "failed: the host, not the model (a port or device still held)",
            NextStep(
                playbook=playbook,
                fallback=result.spec.fallback if result.spec else None,
                reason="infrastructure: stale servers were cleaned; retry once",
            ),
        )
    if _DYNAMO_CONTIGUOUS.search(text):
        return (
            "failed: VL + TorchDynamo contiguous failure",
            NextStep(
                playbook="fallback",
                fallback="torchdynamo-disable",
                reason="the runbook: retry with TORCHDYNAMO_DISABLE=1, same serve args",
            ),
        )
    if _MM_PROCESSOR.search(text):
        return (
            "failed: the multimodal processor does not match transformers",
            NextStep(
                playbook="fallback",
                fallback="text-only",
                reason="isolate the language model (not a fix)",
            ),
        )
    if _CAPTURE.search(text) and _graph_mode(result):
        return (
            "failed: ACL graph capture",
            NextStep(
                playbook="fallback",
                fallback="hccl-aiv",
                reason="the runbook: HCCL_OP_EXPANSION_MODE=AIV for capture stability",
                alternatives=[*_shorter_len(result, text), "eager"],
            ),
        )
    first_request = result.phase in ("text smoke", "image smoke")
    graph_stage = result.stage in GRAPH_STAGES
    if not _graph_mode(result) and (first_request or graph_stage):
        return "failed in eager mode too: a model or backend code problem, not graphs", None
    if _graph_mode(result) and (first_request or (graph_stage and result.status == "failed")):
        where = "on the first request (false-ready)" if first_request else "in graph capture"
        return (
            f"failed {where}",
            NextStep(playbook="eager", reason="isolate: does it pass with --enforce-eager?"),
        )
    if result.status == "timeout" and _graph_mode(result) and graph_stage:
        return (
            "timeout while compiling or capturing graphs",
            NextStep(playbook="eager", reason="isolate: does it start with --enforce-eager?"),
        )
    if result.status == "timeout":
        return f"timeout: no progress in stage {result.stage or 'launch'}", None
    if first_request:
        return "failed on the first request (false-ready)", None
    return f"failed during {result.stage or result.phase}", None


def _quality(result: RunResult) -> tuple[str, NextStep | None]:
    """HTTP 200 with a reply that is not an answer (the runbook's output quality entry)."""
    answers = result.answers
    assert answers is not None
    verdict = f"failed: output quality: {answers.summary()}"
    if answers.template_mismatch:
        return verdict, None  # a relaunch does not change the template: fix it, or use completions
    if _graph_mode(result):
        # On Ascend it is often graph mode alone that answers wrong (precision, capture).
        return verdict, NextStep(
            playbook="eager", reason="does eager mode answer right? (--enforce-eager)"
        )
    return verdict, None


_MAX_LEN = re.compile(r"Using max model len (\d+)|max_seq_len=(\d+)")


def _shorter_len(result: RunResult, text: str) -> list[str]:
    """A lower --max-model-len to try: half of what the server ran with."""
    length = result.max_model_len
    if length is None and (m := _MAX_LEN.search(text)):
        length = int(m.group(1) or m.group(2))
    if length and length > 1024:
        return [f"max-model-len={length // 2}"]
    return []
