"""Turn a raw paste into clean log lines.

Pastes arrive as Slack messages, files and terminal scrollback: ANSI colours, `\r`
progress bars, vLLM process prefixes, `[rankN]:`, docker-compose and CI prefixes, log
level / timestamp / `[file.py:N]` prefixes, markdown from chat, and the same line from
many ranks interleaved. What is left is the message each line carries, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Binary sniffing looks at the start only; text logs never have this many control bytes.
_SNIFF_BYTES = 65536
_MAX_LINE = 8000
_MAX_CONTROL_RATIO = 0.10

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NEWLINES = re.compile(r"\r\n|\n|\r")

# One pass per line strips whatever prefixes nest at its start, outermost first.
_PREFIX = re.compile(
    r"""
    (?:>\s*\|\s?)                                               # CI step output "> | "
    |(?:>\s?)                                                   # chat quote
    |(?:[-*\u2022]\s+(?=\S))                                     # chat bullet
    |(?:(?P<service>[A-Za-z0-9][\w.-]*)\s+\|\s?)                 # docker-compose "vllm-1  | "
    |(?:\((?P<proc>[A-Za-z_][\w.:=-]*(?:\ (?!pid=)[\w.:=,\[\]-]+)*)
        \s+pid=\d+[^)]*\)\s*)                                       # (VllmWorker rank=0 pid=12)
    |(?:\[rank(?P<rank>\d+)\]:\s?)                               # [rank3]:
    |(?:(?P<level>INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL|FATAL)
        (?::\s+|\s+(?P<mmdd>\d\d-\d\d)\s+(?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)?\s*
        (?:\[[^\]]*\]\s*)?))                                     # INFO 11-28 10:12:01 [core.py:12]
    |(?:\[?\d{4}-\d\d-\d\d[T\s](?P<hms2>\d\d:\d\d:\d\d)(?:[.,]\d+)?
        (?:Z|[+-]\d\d:?\d\d)?\]?(?:\s+-)?\s+)                    # ISO timestamps
    """,
    re.VERBOSE,
)
_REPEATED = re.compile(r"\s*\[repeated \d+x across cluster\]")
_DROP = re.compile(r"^\s*(?:[\^~]+|`{3}\w*|~{3}\w*)\s*$")  # caret lines and code fences
_PROGRESS = re.compile(r"^(?P<desc>[^|\r\n]{0,120}?):?\s*\d{1,3}%\|")


@dataclass(frozen=True)
class LogLine:
    no: int  # line number in the paste as given (1-based)
    text: str  # the message, prefixes removed
    level: str | None  # INFO / WARNING / ERROR ... when the line said so
    source: str | None  # process, rank or service that wrote it
    seconds: int | None  # time of day from the prefix, when the line had one


@dataclass(frozen=True)
class Paste:
    lines: tuple[LogLine, ...]  # distinct messages in first-seen order
    total_lines: int
    notes: tuple[str, ...]  # what was done to the input that the user should know


def decode(data: bytes | str, max_bytes: int) -> tuple[str, list[str]]:
    """Bytes to text with a cap; raises nothing, says what it did in notes."""
    notes: list[str] = []
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        head, tail = max_bytes // 8, max_bytes - max_bytes // 8
        notes.append(
            f"input is {_size(len(raw))}, over the {_size(max_bytes)} cap: read the first "
            f"{_size(head)} and the last {_size(tail)}, skipped the middle"
        )
        start = len(raw) - tail
        while start < len(raw) and raw[start] & 0xC0 == 0x80:  # not inside a UTF-8 character
            start += 1
        end = head
        while end > 0 and raw[end] & 0xC0 == 0x80:
            end -= 1
        raw = raw[:end] + b"\n" + raw[start:]
    text = raw.decode("utf-8", errors="replace")
    if "\ufffd" in text and isinstance(data, bytes):
        notes.append("input is not valid UTF-8: undecodable bytes were replaced")
    return text, notes


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.0f} KB"


def looks_binary(text: str) -> bool:
    sample = text[:_SNIFF_BYTES]
    if not sample:
        return False
    bad = len(_CONTROL.findall(sample)) + sample.count("\ufffd")
    return bad / len(sample) > _MAX_CONTROL_RATIO


def _split(text: str) -> list[tuple[int, str]]:
    """Lines with their number; `\r` rewrites collapse to the last state of a progress bar."""
    out: list[tuple[int, str]] = []
    for no, physical in enumerate(text.split("\n"), start=1):
        if "\r" not in physical and "%|" not in physical:
            out.append((no, physical))
            continue
        for part in _NEWLINES.split(physical):
            bar = _PROGRESS.match(part)
            if bar and out:
                prev = _PROGRESS.match(out[-1][1])
                if prev and prev.group("desc") == bar.group("desc"):
                    out[-1] = (no, part)
                    continue
            out.append((no, part))
    return out


def _clip(message: str) -> str:
    """Very long lines (a dict of every architecture, a minified JSON) keep head and tail."""
    if len(message) <= _MAX_LINE:
        return message
    return f"{message[: _MAX_LINE - 2000]} [...] {message[-2000:]}"


def _seconds(hms: str | None, mmdd: str | None) -> int | None:
    if not hms:
        return None
    h, mi, s = (int(x) for x in hms.split(":"))
    day = int(mmdd[3:]) if mmdd else 0
    return ((day * 24 + h) * 60 + mi) * 60 + s


def normalise(text: str) -> Paste:
    """Clean lines of a paste (already decoded and capped)."""
    text = _ANSI.sub("", text)
    text = _CONTROL.sub("", text)
    lines: list[LogLine] = []
    seen: set[str] = set()
    physical = _split(text)
    for no, line in physical:
        line = _clip(line)
        if "[repeated" in line:
            line = _REPEATED.sub("", line)
        level = source = hms = mmdd = None
        pos = 0
        while (m := _PREFIX.match(line, pos)) and m.end() > pos:
            lv, proc, service, rank, t1, t2, day = m.group(
                "level", "proc", "service", "rank", "hms", "hms2", "mmdd"
            )
            level = lv or level
            source = f"rank{rank}" if rank else proc or service or source
            hms, mmdd = (t1 or t2 or hms), (day or mmdd)
            pos = m.end()
        message = line[pos:].rstrip()
        # The same message from many ranks or repeated retries is read once.
        if message in seen or not message.strip() or _DROP.match(message):
            continue
        seen.add(message)
        lines.append(
            LogLine(no, message, level.upper() if level else None, source, _seconds(hms, mmdd))
        )
    total = text.count("\n") + 1 if text else 0
    return Paste(tuple(lines), total, ())
