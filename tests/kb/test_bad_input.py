"""Bad input gets a clear error and never a crash or minutes of CPU."""

from pathlib import Path

import pytest

from kb import InputError, KBConfig, ModelNotFoundError, Triager, load


def test_empty_and_blank_input_is_refused_with_a_reason(triager: Triager) -> None:
    for paste in ("", "   \n\n\t", b""):
        with pytest.raises(InputError, match="nothing to triage"):
            triager.triage(paste)


def test_binary_input_is_refused_not_triaged(triager: Triager) -> None:
    with pytest.raises(InputError, match="looks binary"):
        triager.triage(bytes(range(256)) * 400)
    gzip_like = b"\x1f\x8b\x08\x00" + bytes((i * 7) % 256 for i in range(20000))
    with pytest.raises(InputError, match="looks binary"):
        triager.triage(gzip_like)


def test_non_utf8_log_is_triaged_with_a_note(triager: Triager) -> None:
    paste = "OSError: [Errno 98] Address already in use \xe9\xe8".encode("latin-1")
    result = triager.triage(paste)
    assert result.verdict == "match"
    assert (
        result.matches[0].entry_id == "server-fails-to-bind-on-8000-or-fails-with-hccl-bind-errors"
    )
    assert any("not valid UTF-8" in n for n in result.notes)


def test_a_50_mb_paste_is_capped_with_a_message_and_the_tail_is_still_read(
    triager: Triager,
) -> None:
    noise = b"(APIServer pid=1) INFO 11-28 10:00:00 [x.py:1] Avg prompt throughput: 0.0 tokens/s\n"
    tail = (
        b"[rank0]: RuntimeError: capture_end: NPU function error: "
        b"c10_npu::acl::AclmdlRICaptureEnd(capture_stream_, &model_ri), error code is 507903\n"
    )
    paste = noise * (50_000_000 // len(noise)) + tail
    small = Triager(triager.index, max_input_bytes=2_000_000)
    result = small.triage(paste)
    assert any("over the 2.0 MB cap" in n for n in result.notes)
    assert result.matches[0].entry_id == "acl-graph-capture-fails-507903"


def test_a_huge_single_line_does_not_hang(triager: Triager) -> None:
    result = triager.triage("x" * 3_000_000 + " RuntimeError: boom")
    assert result.verdict in ("match", "no_match")


def test_missing_model_path_names_the_setting(tmp_path: Path) -> None:
    config = KBConfig(model_path=tmp_path / "nope", cache_dir=tmp_path)
    with pytest.raises(ModelNotFoundError, match="ONCALL_MODEL_PATH") as info:
        load(config)
    assert str(tmp_path / "nope") in str(info.value)
