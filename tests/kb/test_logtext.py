from kb.logtext import decode, looks_binary, normalise


def texts(raw: str) -> list[str]:
    return [line.text for line in normalise(raw).lines]


def test_vllm_process_level_timestamp_and_file_prefixes_are_removed() -> None:
    raw = (
        "(APIServer pid=3012) INFO 11-28 10:12:01 [api_server.py:1885] vLLM API server version 0.11.0\n"
        "(EngineCore_DP0 pid=3301) ERROR 11-28 10:12:09.123 [core.py:700] EngineCore failed to start.\n"
        "(Worker_TP3 pid=3410) WARNING 11-28 10:12:09 [utils.py:1] careful\n"
        "(VllmWorker rank=0 pid=77) INFO 11-28 10:12:09 [x.py:2] hello\n"
        "(Worker_DP0_TP5_EP5 pid=91) INFO 11-28 10:12:09 [x.py:2] ep\n"
    )
    lines = normalise(raw).lines
    assert [ln.text for ln in lines] == [
        "vLLM API server version 0.11.0",
        "EngineCore failed to start.",
        "careful",
        "hello",
        "ep",
    ]
    assert [ln.level for ln in lines] == ["INFO", "ERROR", "WARNING", "INFO", "INFO"]
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
