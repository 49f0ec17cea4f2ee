"""A server log cut to the upload cap: its start and end kept, the middle's size said."""

from __future__ import annotations

from pathlib import Path

from runners.run.logcut import cut_file, cut_log


def _log(lines: int) -> bytes:
    return b"".join(f"INFO line {i:06d} of the server log\n".encode() for i in range(lines))


def test_a_log_that_fits_is_sent_whole() -> None:
    data = _log(10)
    assert cut_log(data, len(data)) == data


def test_a_big_log_keeps_its_first_and_last_lines_and_says_how_much_was_cut() -> None:
    data = _log(100_000)  # about 3.5 MB
    cut = cut_log(data, 64 * 1024)
    assert len(cut) <= 64 * 1024
    assert cut.startswith(b"INFO line 000000 of the server log\n")
    assert cut.endswith(b"INFO line 099999 of the server log\n")
    text = cut.decode()
    head, note, tail = text.partition("[... ")
    assert note and head.endswith("\n"), "the note is on a line of its own"
    dropped = int(tail.split(" bytes cut here")[0].replace(",", ""))
    kept = len(cut) - len(("[... " + tail.split("\n", 1)[0] + "\n").encode())
    assert dropped + kept == len(data), "the note counts exactly what is missing"
    assert f"the log was {len(data):,} bytes" in text
    for line in text.splitlines():
        assert line.startswith(("INFO line ", "[... ")) and (
            line.endswith("of the server log") or line.endswith("...]")
        ), f"only whole lines: {line!r}"


def test_a_log_of_one_long_line_is_cut_anyway_within_the_cap() -> None:
    data = b"x" * 100_000
    cut = cut_log(data, 8192)
    assert len(cut) <= 8192 and b"bytes cut here" in cut
    assert cut.startswith(b"xxx") and cut.endswith(b"xxx")


def test_the_file_is_cut_as_its_content_would_be(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    data = _log(50_000)
    path.write_bytes(data)
    assert cut_file(path, 32 * 1024) == cut_log(data, 32 * 1024)
    small = tmp_path / "small.log"
    small.write_bytes(_log(3))
    assert cut_file(small, 32 * 1024) == _log(3)


def test_a_huge_file_is_read_at_its_two_ends_only(tmp_path: Path) -> None:
    path = tmp_path / "huge.log"
    with path.open("wb") as f:  # 8 GB, sparse: reading it all would take minutes
        f.write(b"first line\n")
        f.seek(8 * 1024**3)
        f.write(b"\nlast line\n")
    cut = cut_file(path, 16 * 1024)
    assert cut.startswith(b"first line\n") and cut.endswith(b"last line\n")
    assert b"8,589,934,603 bytes" in cut
