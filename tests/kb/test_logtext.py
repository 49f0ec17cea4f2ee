import json
from pathlib import Path

import pytest

from kb import Triager, logtext
from kb.logtext import decode, looks_binary, normalise
from kb.reading import read


def texts(raw: str) -> list[str]:
    return [line.text for line in normalise(raw).lines]


def test_vllm_process_level_timestamp_and_file_prefixes_are_removed() -> None:
    raw = (
        "(APIServer pid=3012) INFO 11-28 10:12:01 [api_server.py:1885] vLLM API server version 0.11.0\n"
        "(EngineCore_DP0 pid=3301) ERROR 11-28 10:12:09.123 [core.py:700] EngineCore failed to start.\n"
        "(Worker_TP3 pid=3410) WARNING 11-28 10:12:09 [utils.py:1] careful\n"
        "(VllmWorker rank=0 pid=77) INFO 11-28 10:12:09 [x.py:2] hello\n"
        "(Worker_DP0_TP5_EP5 pid=91) INFO 11-28 10:12:09 [x.py:2] ep\n"
        "(MapWorker(MapBatches(vLLMEngineStageUDF)) pid=4385) (EngineCore_DP0 pid=6448) INFO "
        "02-12 15:00:36 [monitor.py:34] ray data\n"
    )
    lines = normalise(raw).lines
    assert [ln.text for ln in lines] == [
        "vLLM API server version 0.11.0",
        "EngineCore failed to start.",
        "careful",
        "hello",
        "ep",
        "ray data",
    ]
    assert [ln.level for ln in lines] == ["INFO", "ERROR", "WARNING", "INFO", "INFO", "INFO"]
    assert lines[1].source == "EngineCore_DP0"
    assert lines[0].seconds is not None and lines[1].seconds == lines[0].seconds + 8


def test_a_level_cut_off_by_the_copy_is_still_a_level_prefix() -> None:
    lines = normalise(
        "RROR 12-18 19:47:34 engine.py:366] ValueError: Total number of attention heads (64)\n"
        "ARNING 12-18 19:47:35 [utils.py:1] careful\n"
        "NFO: not a prefix without its timestamp\n"
    ).lines
    assert [(ln.text, ln.level) for ln in lines] == [
        ("ValueError: Total number of attention heads (64)", "ERROR"),
        ("careful", "WARNING"),
        ("NFO: not a prefix without its timestamp", None),
    ]


def test_ranks_interleaved_collapse_to_one_copy_in_first_seen_order() -> None:
    raw = "".join(
        f"[rank{r}]: {line}\n"
        for line in ("Traceback (most recent call last):", "RuntimeError: boom")
        for r in range(8)
    )
    assert texts(raw) == ["Traceback (most recent call last):", "RuntimeError: boom"]


def test_ansi_carriage_return_progress_bars_and_repeated_suffix() -> None:
    bar = "".join(f"\rCapturing CUDA graphs (decode, FULL): {p}%|##| {p}/100" for p in (10, 50, 90))
    raw = (
        "\x1b[1;31mERROR\x1b[0m 11-28 10:00:00 [core.py:1] bad thing\n"
        f"{bar}\n"
        "INFO 11-28 10:00:01 [x.py:1] Loading [repeated 6x across cluster]\n"
    )
    assert texts(raw) == [
        "bad thing",
        "Capturing CUDA graphs (decode, FULL): 90%|##| 90/100",
        "Loading",
    ]


def test_syslog_escaped_colours_returns_and_joined_lines_are_undone() -> None:
    raw = (
        "#033[1;36m(VllmWorkerProcess pid=382)#033[0;0m ERROR 07-15 08:09:04 "
        "[multiproc_worker_utils.py:239] Exception in worker#015\n"
        "Jul 15 08:09:04 host vllm[1]: Traceback (most recent call last):#012  File "
        '"/x/vllm/multimodal/processing.py", line 1254, in _call_hf_processor#012'
        "TypeError: bad processor\n"
    )
    lines = normalise(raw).lines
    assert lines[0].text == "Exception in worker" and lines[0].level == "ERROR"
    assert lines[0].source == "VllmWorkerProcess"
    assert lines[-1].text == "TypeError: bad processor"
    # A paste without rsyslog's marks keeps a `#0..` it happens to contain.
    assert texts("see issue #011 for this\n") == ["see issue #011 for this"]


def test_compose_ci_chat_markdown_and_caret_lines() -> None:
    raw = (
        "hey, this broke after the upgrade:\n"
        "```\n"
        "vllm-1  | (APIServer pid=1) ERROR 11-28 10:00:00 [a.py:1] first\n"
        "> | second\n"
        "> third\n"
        "- fourth\n"
        "    x = f(y)\n"
        "        ^^^^^^\n"
        "2026-11-28T10:00:00.1234567Z fifth\n"
        "```\n"
    )
    assert texts(raw) == [
        "hey, this broke after the upgrade:",
        "first",
        "second",
        "third",
        "fourth",
        "    x = f(y)",
        "fifth",
    ]


def test_cap_keeps_head_and_tail_and_says_so() -> None:
    data = b"HEAD\n" + b"x" * 5000 + b"\nTAIL"
    text, notes = decode(data, max_bytes=1024)
    assert text.startswith("HEAD") and text.endswith("TAIL")
    assert len(text) <= 1026
    assert "over the" in notes[0] and "cap" in notes[0]


def test_invalid_utf8_is_replaced_and_noted_binary_is_detected() -> None:
    text, notes = decode(b"RuntimeError: caf\xe9 failed", max_bytes=1000)
    assert "RuntimeError" in text and "not valid UTF-8" in notes[0]
    assert looks_binary(bytes(range(256)).decode("latin-1") * 10)
    assert not looks_binary("plain log line\n" * 100)


def test_lines_without_rewrites_split_as_the_general_path_splits_them() -> None:
    text = "  INFO a\n\n\t\nERROR b  \n   \nx\n" + "\n".join(f"line {i}" for i in range(50))
    assert logtext._split(text) == logtext._split_rewrites(text)


def _whole_log(requests: int, failure: str) -> str:
    head = [
        "(APIServer pid=1) INFO 12-07 10:00:00 [api_server.py:1] Starting vLLM API server 0 on http://0.0.0.0:8000",
        "(APIServer pid=1) INFO:     Application startup complete.",
    ]
    served = [
        f'(APIServer pid=1) INFO:     10.0.{i % 250}.{i % 199}:{40000 + i} - "POST /v1/chat/completions HTTP/1.1" 200 OK'
        for i in range(requests)
    ]
    return "\n".join(head + served) + "\n" + failure


FAILURE = (
    "(EngineCore_DP0 pid=2) ERROR 12-07 10:00:05 [core.py:1] EngineCore encountered a fatal error.\n"
    "(EngineCore_DP0 pid=2) ERROR 12-07 10:00:05 [core.py:1] RuntimeError: NPU function error: "
    "call aclnnFusedInferAttentionScoreV3 failed, error code is 561002\n"
    '(APIServer pid=1) INFO:     10.0.0.9:1 - "POST /v1/chat/completions HTTP/1.1" 500 Internal Server Error\n'
)


def test_a_whole_log_is_read_as_its_full_reading_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thinning a long log's repeated shapes changes nothing the reader concludes."""
    log = _whole_log(20_000, FAILURE)
    thin = read(normalise(log).lines)
    assert len(thin.lines) < 100  # 20,000 access lines are read as a few
    monkeypatch.setattr(logtext, "_THIN_ABOVE", 10**9)
    full = read(normalise(log).lines)
    assert len(full.lines) > 20_000
    assert thin.signature == full.signature and "561002" in (thin.signature or "")
    assert thin.facts == full.facts and "@died-after-serving" in thin.facts
    assert [ln.no for ln in thin.lines][-3:] == [ln.no for ln in full.lines][-3:]


def test_a_long_startup_then_a_first_request_crash_is_still_a_first_request_crash() -> None:
    loading = "\n".join(
        f"(EngineCore_DP0 pid=2) INFO 12-07 10:00:{i % 60:02d} [loader.py:1] Loading weights took {i}.{i % 7} seconds"
        for i in range(8000)
    )
    reading = read(normalise(loading + "\n" + _whole_log(1, FAILURE)).lines)
    assert "@first-request-crash" in reading.facts


def test_thinning_leaves_every_corpus_answer_as_it_was(
    triager: Triager, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thinning on for every paste, however short: the same root cause, verdict and answer.
    (Below 5,000 lines nothing is thinned; forced here, a paste with no error line, whose
    every line feeds the search text, may see its runners-up swap.)"""
    data = Path(__file__).parents[1] / "data"
    texts = [
        json.loads(row)["text"]
        for path in sorted(data.glob("*/*.jsonl"))
        for row in path.read_text().splitlines()
    ]
    assert len(texts) > 400

    def answers() -> list[tuple[object, ...]]:
        out = []
        for text in texts:
            t = triager.triage(text)
            out.append((t.verdict, t.signature, t.matches[0].entry_id if t.matches else None))
        return out

    monkeypatch.setattr(logtext, "_THIN_ABOVE", 10**9)
    unthinned = answers()
    monkeypatch.setattr(logtext, "_THIN_ABOVE", 0)
    assert answers() == unthinned


def test_a_line_quoted_as_inline_code_is_read_as_the_line() -> None:
    lines = normalise(
        "`ValueError: The model's max seq len (32768) is larger than the maximum number of "
        "tokens that can be stored in KV cache (24320).`\n"
        "run `vllm serve` with `--max-model-len`\n"
        "```python\n"
    ).lines
    assert lines[0].text.startswith("ValueError: The model's max seq len (32768)")
    assert lines[0].text.endswith("(24320).")
    assert lines[1].text == "run `vllm serve` with `--max-model-len`"  # prose keeps its quotes
    assert len(lines) == 2
    assert read(lines).signature == lines[0].text


def test_python_logging_name_and_level_formats_give_the_level() -> None:
    lines = normalise(
        "xinference.core.supervisor 83 ERROR    Failed to launch replica PaddleOCR-VL-0: "
        "cannot import name 'TransformersKwargs' from 'transformers.utils'\n"
        "2026-01-02 10:00:00,123 - vllm.engine - WARNING - No model architectures are specified\n"
        "The ERROR  column is empty\n"
    ).lines
    assert lines[0].level == "ERROR" and lines[0].text.startswith("Failed to launch replica")
    assert lines[1].level == "WARNING" and lines[1].text == "No model architectures are specified"
    assert lines[2].level is None and lines[2].text == "The ERROR  column is empty"


def test_torch_log_prefix_code_quoted_lines_and_a_label_before_an_exception() -> None:
    lines = normalise(
        "[rank0]:[E903 07:21:23.263967696 compiler_depend.ts:429] RopeOperation setup failed!\n"
        "  ```ValueError: The number of required GPUs exceeds the total number of GPUs.```\n"
        "报错\uff1aRuntimeError: NPU out of memory. Tried to allocate 3.47 GiB\n"
        "Note: the RuntimeError went away after a restart\n"
    ).lines
    assert (lines[0].text, lines[0].level) == ("RopeOperation setup failed!", "ERROR")
    assert lines[0].source == "rank0"
    assert (
        lines[1].text == "ValueError: The number of required GPUs exceeds the total number of GPUs."
    )
    assert lines[2].text == "RuntimeError: NPU out of memory. Tried to allocate 3.47 GiB"
    assert lines[3].text == "Note: the RuntimeError went away after a restart"  # prose stays
