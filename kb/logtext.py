"""Turn a raw paste into clean log lines.

Pastes arrive as Slack messages, files and terminal scrollback: ANSI colours, `\r`
progress bars, vLLM process prefixes, `[rankN]:`, docker-compose and CI prefixes, log
level / timestamp / `[file.py:N]` prefixes, markdown from chat, and the same line from
many ranks interleaved. What is left is the message each line carries, once.

Anyone who can message the bot can paste, so every step here is linear in the paste with a
small constant: no pattern has two unbounded repeats that can trade characters, lines are
clipped before any pattern reads them, progress bars are read by hand from their first
`|`, and blank lines and repeated `\r` parts are skipped by C loops rather than one Python
step each. tests/security/test_linear_paste.py holds each of these to linear growth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Binary sniffing looks at the start only; text logs never have this many control bytes.
_SNIFF_BYTES = 65536
_MAX_LINE = 8000
# Real lines nest a few prefixes (compose, CI, process, level); a line of 8000 `>` is bait.
_MAX_PREFIXES = 16
_BAR_DESC = 120  # longest progress bar description
_MAX_CONTROL_RATIO = 0.10
# A paste longer than this is a whole log: thousands of access and metrics lines that differ
# only in their numbers. Each shape keeps its first and last few lines (what starts and ends
# a stretch, and enough to count requests); the reader then reads hundreds of lines, not
# 100,000. Every paste in the corpora is far shorter, so their reading is unchanged.
_THIN_ABOVE = 5_000
_KEEP_AT_EACH_END = 4

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# rsyslog writes control characters as `#` and three octal digits: a colour as `#033[1;36m`,
# a carriage return as `#015`, a whole traceback on one line joined by `#012`.
_SYSLOG_ESCAPE = re.compile(r"#(0[0-3][0-7]|177)")
_SYSLOG_MARKS = ("#033[", "#012", "#015")
_VISIBLE = re.compile(r"\S[^\n]*")  # a line from its first visible character to its end

# One pass per line strips whatever prefixes nest at its start, outermost first.
_PREFIX = re.compile(
    r"""
    (?:>\s*\|\s?)                                               # CI step output "> | "
    |(?:>\s?)                                                   # chat quote
    |(?:[-*\u2022]\s+(?=\S))                                     # chat bullet
    |(?:(?P<service>[A-Za-z0-9][\w.-]*)\s+\|\s?)                 # docker-compose "vllm-1  | "
    |(?:\((?P<proc>[A-Za-z_][\w.:=-]*(?:\([\w.()]{0,120}\))?      # Ray Data: (MapWorker(
        (?:\ (?!pid=)[\w.:=,\[\]-]+)*)                             # MapBatches(X)) pid=4)
        \s+pid=\d+[^)]{0,200}\)\s*)                                 # (VllmWorker rank=0 pid=12)
    |(?:\[rank(?P<rank>\d+)\]:\s?)                               # [rank3]:
    |(?:(?P<level>INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL|FATAL
        |(?:R?ROR|A?RNING|NFO|EBUG|RITICAL)(?=\s+\d\d-\d\d\s))  # a copy cut mid-word
        (?::\s+|\s+(?P<mmdd>\d\d-\d\d)\s+(?P<hms>\d\d:\d\d:\d\d)(?:\.\d+)?\s*
        (?:\[[^\]]{0,200}\]\s*|[\w.-]{1,80}\.py:\d{1,6}\]\s*)?))  # INFO 11-28 10:12:01 [core.py:12]
    |(?:[\w.-]{1,80}\.py:\d{1,6}\]\s?)                            # "engine.py:366] ": a cut prefix
    |(?:[A-Za-z_]\w{0,40}\.[\w.]{1,80}\s(?:-\s|\d{1,9}\s+)?      # Python logging's name,
        (?P<level2>INFO|WARNING|ERROR|DEBUG|CRITICAL)(?:\s-\s|\s{2,9}))  # pid, level: "x 8 ERROR "
    |(?:(?P<glog>[IWEF])\d{4}(?:\d{4})?\s(?P<hms3>\d\d:\d\d:\d\d)\.\d{1,9}\s{1,9}\d{1,9}\s
        [\w./-]{1,200}:\d{1,6}\]\s?)                     # glog: E0511 23:56:11.551 182 x.cc:564]
    |(?:\*\*(?=\S))                                              # markdown bold around a line
    |(?:\s{0,8}(?P<tick>`{1,3})(?=[^`\s]))                       # inline code around a line
    |(?:[^\s:\uff1a]{1,20}[:\uff1a]\s{0,3}                         # a short label, then an
        (?=[A-Z]\w{0,60}?(?:Error|Exception)\b))                   # exception: "error: ValueError"
    |(?:\[(?P<c10>[IWEF])\d{3,4}\s(?P<hms4>\d\d:\d\d:\d\d)(?:\.\d{1,9})?\s(?:\d{1,9}\s)?
        [\w./-]{1,200}:\d{1,6}\]\s?)                         # torch: [E903 07:21:23.2 x.ts:429]
    |(?:\[?\d{4}-\d\d-\d\d[T\s](?P<hms2>\d\d:\d\d:\d\d)(?:[.,]\d+)?
        (?:Z|[+-]\d\d:?\d\d)?\]?(?:\s+-)?\s+)                    # ISO timestamps
    """,
    re.VERBOSE,
)
_GLOG_LEVEL = {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "FATAL"}
_CUT_LEVEL = {"RROR": "ERROR", "ROR": "ERROR", "ARNING": "WARNING", "RNING": "WARNING",
              "NFO": "INFO", "EBUG": "DEBUG", "RITICAL": "CRITICAL"}  # fmt: skip
_REPEATED = re.compile(r"\[repeated \d+x across cluster\]")  # Ray's dedup marker
_DROP = re.compile(r"^\s*(?:[\^~]+|`{3}\w*|~{3}\w*)\s*$")  # caret lines and code fences


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


def _bar(part: str) -> str | None:
    r"""The description of a progress bar (`desc: 42%|###  | 5/12`), None if `part` is none.

    Reads what `^(?P<desc>[^|\r\n]{0,120}?):?\s*\d{1,3}%\|` matched, backwards from the first
    `|`; that pattern tried each of 121 descriptions with a whitespace scan after it.
    """
    pipe = part.find("|")
    percent = pipe - 1
    if percent < 1 or part[percent] != "%":
        return None
    start = percent  # of the 1 to 3 digits before the `%`
    while start > 0 and percent - start < 3 and part[start - 1].isdecimal():
        start -= 1
    if start == percent:
        return None
    if start > 0 and part[start - 1].isdecimal():  # a fourth digit is the description's
        end = start
    else:
        end = len(part[:start].rstrip())
        if end and part[end - 1] == ":":
            end -= 1
    return part[:end] if end <= _BAR_DESC else None


def _split(text: str) -> list[tuple[int, str]]:
    """Lines with their number; `\r` rewrites collapse to the last state of a progress bar.

    Blank lines and blank `\r` parts give no message: they are skipped, but still end a run
    of progress bars, as they did when each was kept and dropped later.
    """
    if "\r" not in text and "%|" not in text:  # no rewrites: lines as they are, much faster
        return [
            (no, line) for no, line in enumerate(text.split("\n"), 1) if line and not line.isspace()
        ]
    return _split_rewrites(text)


def _split_rewrites(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    bar: str | None = None  # the description of the last line kept, when it was a bar
    no, counted, end = 1, 0, -1
    for visible in _VISIBLE.finditer(text):
        start = text.rfind("\n", 0, visible.start()) + 1
        no += text.count("\n", counted, start)
        counted = start
        if start != end + 1:  # blank lines in between
            bar = None
        end = visible.end()
        physical = text[start:end]
        if "\r" not in physical and "%|" not in physical:
            out.append((no, physical))
            bar = None
            continue
        parts = physical.split("\r")
        if "%|" not in physical:  # no bar: each distinct part once (later copies are dropped)
            out.extend((no, part) for part in dict.fromkeys(parts) if not _blank(part))
            bar = None
            continue
        for part in parts:
            if _blank(part):
                bar = None
                continue
            desc = _bar(part)
            if desc is not None and desc == bar:
                out[-1] = (no, part)
            else:
                out.append((no, part))
            bar = desc
    return out


def _thinned(numbered: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The first and last few lines of each shape (the line without its digits), in order."""
    if len(numbered) <= _THIN_ABOVE:
        return numbered
    # One pass over all the text in C, not one call a line: lines hold no "\n" of their own.
    joined = "\n".join(text for _, text in numbered).encode("utf-8", "surrogatepass")
    shapes = joined.translate(None, b"0123456789").split(b"\n")
    keep = bytearray(len(numbered))
    for order in (range(len(shapes)), range(len(shapes) - 1, -1, -1)):
        seen: dict[bytes, int] = {}
        for i in order:
            count = seen.get(shapes[i], 0)
            if count < _KEEP_AT_EACH_END:
                seen[shapes[i]] = count + 1
                keep[i] = 1
    return [line for line, kept in zip(numbered, keep, strict=True) if kept]


def _blank(part: str) -> bool:
    return not part or part.isspace()


def _drop_repeated(line: str) -> str:
    """Remove each `[repeated Nx across cluster]` with the whitespace before it."""
    kept, pos = [], 0
    for marker in _REPEATED.finditer(line):
        kept.append(line[pos : marker.start()].rstrip())
        pos = marker.end()
    kept.append(line[pos:])
    return "".join(kept)


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
    if any(mark in text for mark in _SYSLOG_MARKS):
        text = _SYSLOG_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)
    text = _ANSI.sub("", text)
    text = _CONTROL.sub("", text)
    lines: list[LogLine] = []
    seen: set[str] = set()
    read_before: set[str] = set()
    for no, raw in _thinned(_split(text)):
        line = _clip(raw)
        if line in read_before:  # the same line gives the same message: read it once
            continue
        read_before.add(line)
        if "[repeated" in line:
            line = _drop_repeated(line)
        level = source = hms = mmdd = tick = None
        pos = 0
        for _ in range(_MAX_PREFIXES):
            m = _PREFIX.match(line, pos)
            if m is None or m.end() == pos:
                break
            lv, proc, service, rank, t1, t2, day, glog, t3 = m.group(
                "level", "proc", "service", "rank", "hms", "hms2", "mmdd", "glog", "hms3"
            )
            lv = lv or m.group("level2")
            glog, t3 = glog or m.group("c10"), t3 or m.group("hms4")
            tick = m.group("tick") or tick
            level = _CUT_LEVEL.get(lv or "", lv) or _GLOG_LEVEL.get(glog or "") or level
            t1 = t1 or t3
            source = f"rank{rank}" if rank else proc or service or source
            hms, mmdd = (t1 or t2 or hms), (day or mmdd)
            pos = m.end()
        message = line[pos:].rstrip()
        if message.endswith("**") and pos and line[pos - 2 : pos] == "**":
            message = message[:-2].rstrip()
        elif tick and message.endswith(tick):
            message = message[: -len(tick)].rstrip()
        elif tick:  # not closed on the line: a code fence (```python) or a quote that goes on
            message = tick + message
        # The same message from many ranks or repeated retries is read once.
        if message in seen or not message.strip() or _DROP.match(message):
            continue
        seen.add(message)
        lines.append(
            LogLine(no, message, level.upper() if level else None, source, _seconds(hms, mmdd))
        )
    total = text.count("\n") + 1 if text else 0
    return Paste(tuple(lines), total, ())
