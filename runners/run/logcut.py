"""A server log cut to a size chat can take: its head (where the launch and the first error
usually are) and its tail (where it died), with a note in the middle saying how much was
left out. Pure functions over bytes, and one that reads only the two ends of a file, so a
log of gigabytes costs no more than the cap.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MAX_LOG_BYTES = 1024 * 1024
# Room kept for the note itself, so the cut log stays within the cap.
_NOTE_ROOM = 200
_SEARCH = 4096  # how far from a cut point a line break is looked for


def cut_note(dropped: int, total: int) -> bytes:
    return (
        f"[... {dropped:,} bytes cut here: the log was {total:,} bytes; "
        "its first and last parts are kept ...]\n"
    ).encode()


def cut_log(data: bytes, limit: int) -> bytes:
    """`data` as it is when it fits in `limit` bytes; else its head and tail, at line
    breaks where one is near, with a note between them. The result is never over `limit`."""
    if len(data) <= limit:
        return data
    return join_cut(data[: limit // 2], data[len(data) - limit // 2 :], len(data), limit)


def join_cut(head: bytes, tail: bytes, total: int, limit: int) -> bytes:
    """The cut log from the first and last bytes of a log of `total` bytes: the log's two
    ends of about `limit / 2` each (as `cut_log` takes them, or read from a file)."""
    room = max(0, limit - _NOTE_ROOM)
    head, tail = head[: room // 2], tail[len(tail) - (room - room // 2) :] if room else b""
    # Whole lines where a break is near: a cut line reads as garbage, and may have been a
    # secret split in two that the redaction could no longer see.
    if (i := head.rfind(b"\n", max(0, len(head) - _SEARCH))) >= 0:
        head = head[: i + 1]
    if (j := tail.find(b"\n", 0, _SEARCH)) >= 0:
        tail = tail[j + 1 :]
    note = cut_note(total - len(head) - len(tail), total)
    if head and not head.endswith(b"\n"):  # no break near: the note on a line of its own
        note = b"\n" + note
    return (head + note + tail)[:limit]


def cut_file(path: Path, limit: int) -> bytes:
    """The file's content cut as `cut_log` would, reading only its two ends."""
    with path.open("rb") as f:
        total = f.seek(0, 2)
        f.seek(0)
        if total <= limit:
            return f.read(limit)
        head = f.read(limit // 2)
        f.seek(total - limit // 2)
        tail = f.read(limit // 2)
    return join_cut(head, tail, total, limit)
