"""What each line of a log is: its role in the failure, from the cause down to noise.

A line's role comes from its own text (an exception, an Ascend error code, a CANN report, a
traceback frame, a wrapper that says the cause is elsewhere, the user's command) and its
log level; `kb.reading` then fixes what only position tells.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

from kb.logtext import LogLine


class Role(enum.IntEnum):
    """How much a line says about the failure, from most to least."""

    CAUSE = 6  # an exception, an error code
    WEAK = 5  # an ERROR line, a generic CANN header, an exception logged as a warning
    FRAME = 4  # a traceback frame
    INPUT = 3  # what the user ran or got back: a command, flags, config, a JSON reply
    WRAPPER = 2  # says something failed elsewhere
    CONTEXT = 1  # startup INFO lines, prose
    BENIGN = 0  # known noise that looks alarming


EXCEPTION = re.compile(
    r"^\s*(?P<name>(?:[A-Za-z_]\w*\.)*(?:[A-Za-z_]\w*(?:Error|Exception|Exit|Failure|Interrupt|Fault)|Exception)"
    r"|(?:[a-z_]\w*\.)+[A-Z]\w*(?=:\s))"  # or any dotted class: torch._dynamo.exc.Unsupported
    r"(?::\s*(?P<msg>.*))?$"
)
_PYDANTIC_VALUE = re.compile(r"^\s*Value error, ")
_ERROR_CODE = re.compile(
    r"error code (?:is )?:?\s*(?P<code>\d{6})\b|runtime result = \d+|retCode=0x|error code is \d+"
)
_CANN = re.compile(r"\b(?P<code>E[A-Z][0-9A-Z]\d{3})\b")
_CANN_REPORT = re.compile(r"^\s*E[A-Z][0-9A-Z]\d{3}[:\[]")  # EZ1001: ..., EE9999[PID: ...]
_CANN_GENERIC = re.compile(r"^\s*(?:E[A-Z]9999|ERR\d{5}|\[Error\]:|\[ERROR\]|EZ9999)|Inner Error!")
FAILED_WORDS = re.compile(
    r"\b(?:failed|failure|fatal|error|errno|cannot|can't|unable|not supported|"
    r"unsupported|invalid|mismatch|refused|denied|no such|not found|out of memory|"
    r"timed out|times out|timeout)\b",
    re.IGNORECASE,
)
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+(?:, in (?P<func>[\w<>.]+))?')
_INPUT = re.compile(
    r"^\s*(?:\([\w.-]{1,40}\)\s)?[\w.-]{1,64}@[\w.-]{1,64}:[^\s#$]{0,200}[#$]\s|"  # user@host:~$
    r"^\s*\$\s+\S|^\s*(?:[$#>]\s+)?(?:export\s+[A-Z_][A-Z0-9_]*=|(?:[A-Z_][A-Z0-9_]*=\S*\s+)+\S|"
    r"(?:python3?\s+-m\s+)?vllm[\s.]|curl\s|docker\s+run|python3?\s+-c\s)|"
    r"non-default args:|Initializing a V1 LLM engine|^\s*(?:[{\[]\s*)?\"[\w.]+\"\s*:|"
    r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+=\S"
)
# A refused request on a server that keeps serving: the user's input, not a crash.
REQUEST_ERROR = re.compile(
    r'"(?:GET|POST|PUT|DELETE) /\S{0,200} HTTP/\d(?:\.\d)?" 4\d\d\b|'  # access log 4xx
    r"\bError code: 4\d\d\b|[\"']code[\"']:\s?4\d\d\b|"
    r"\b(?:BadRequest|NotFound|UnprocessableEntity|PermissionDenied|Authentication)Error\b|"
    r"maximum context length is \d+ tokens|[Tt]he model `?[^`\s]{1,200}`? does not exist|"
    r"\bprompt is too long\b|longer than the maximum model length|"
    r"Please reduce the length of the (?:messages|input|prompt)|"
    r"Error in preprocessing prompt inputs"
)
# A CANN report that says what failed and why is a cause, not a generic header.
_CANN_REASON = re.compile(r"\bfailed, reason=\S")
_CANN_TRACE_ENTRY = re.compile(r"\[FUNC:\w{1,80}\]\[FILE:[\w.]{1,80}\]\[LINE:\d{1,6}\]\s*$")
_FLAG_TOKEN = re.compile(r"(?:^|\s)--[a-z][\w-]*")
TRACEBACK = re.compile(r"^\s*Traceback \(most recent call last\):")
_CANN_TRACEBACK = re.compile(r"^\s*TraceBack \(most recent call last\):")  # ends a CANN report
_UNWRAP = (
    re.compile(r"Worker failed with error '(?P<inner>.+)'(?:, please check the stack trace.*)?$"),
    # vllm-ascend wraps the runner's init, and everything under it, once or twice.
    re.compile(r"(?:NPUModelRunner (?:init )?failed, error is )+(?P<inner>.+)$"),
    # vLLM V0's MQEngineDeadError quotes the error that stopped the engine loop (repr).
    re.compile(r"find the original error: (?P<inner>\w{1,80}\(.+)$"),
)
_WRAPPER = re.compile(
    r"EngineDeadError|Engine core initialization failed|See root cause above|"
    r"See stack trace \(above\)|check the stack trace above|EngineCore failed to start|"
    r"WorkerProc failed to start|WorkerProc hit an exception|EngineCore encountered a fatal error|"
    r"AsyncLLM output_handler failed|died unexpectedly|Server exited unexpectedly|"
    r"^\s*(?:RuntimeError: cancelled|SystemExit|KeyboardInterrupt)|zmq\.error|"
    r"ValidationError: \d+ validation error|Exception in ASGI application|"
    r"The above exception was the direct cause|During handling of the above exception|"
    r"MQLLMEngine is already dead|Background loop has errored|"
    r"HTTP/1\.\d\" 500 Internal Server Error|terminate called (?:after throwing|recursively)"
)
# A C++ exception (c10::Error, std::runtime_error) says its message after `what():`.
_CPP_WHAT = re.compile(r"^\s*what\(\):\s+\S")
_CPP_FRAME = re.compile(r"^\s*(?:frame #\d+: |Exception raised from \S)")
_BENIGN = re.compile(
    r"No available shared memory broadcast block found|Waiting for pending NCCL work|"
    r"Unknown vLLM environment variable detected|Failed to import from vllm\._C|"
    r"No module named 'vllm\._C'|Breakable cudagraph is force disabled|"
    r"is deprecated and will be removed|"
    # vLLM's start-up warning (vllm/utils/system_utils.py, set_ulimit) in every healthy
    # log on a box with a low `ulimit -n`: its `OSError: [Errno 24]` is what *could* happen.
    r"Found ulimit of \d+ and failed to automatically increase"
)

# A GitHub issue template's checklist ("- [x] I have searched the issues and cannot find
# ..."): the form the user filled in, not the log, whatever words it holds.
_CHECKLIST = re.compile(r"^\s*(?:[-*]\s+)?\[[ xX]\]\s")

# Every pattern below needs one of these words or shapes; most lines of a long log have
# none, so a few substring tests send them straight to the cheap end (a big alternation
# regex is several times slower). tests/kb/test_reading.py checks both paths agree.
_SUSPECT_WORDS = (
    "err", "exception", "exit", "interrupt", "fault", "fail", "fatal", "unexpected", "cancel",
    "code", "result", "trace", 'file "', "dead", "died", "see ", "check the", "asgi",
    "above exception", "handling of", "shared memory", "pending nccl", "unknown vllm",
    "import", "no module", "breakable", "deprecated", "what()", "frame #", "terminate called",
)  # fmt: skip
_SUSPECT_SHAPES = re.compile(r"E[A-Z][0-9A-Z]\d{3}|\.[A-Z]\w*:\s")


ERROR_LEVELS = ("ERROR", "CRITICAL", "FATAL")


def role_of(line: LogLine) -> Role:
    if _CHECKLIST.match(line.text):
        return Role.BENIGN
    if line.level not in ERROR_LEVELS:
        low = line.text.lower()
        if not any(w in low for w in _SUSPECT_WORDS) and not _SUSPECT_SHAPES.search(line.text):
            return Role.INPUT if _is_input(line.text) else Role.CONTEXT
    return full_role(line)


def _is_input(text: str) -> bool:
    """A command, config or reply the user pasted: two flags on a line count as a command."""
    return (
        bool(_INPUT.search(text) or REQUEST_ERROR.search(text))
        or len(_FLAG_TOKEN.findall(text, 0, 2000)) >= 2
    )


def full_role(line: LogLine) -> Role:
    text = line.text
    if _BENIGN.search(text):
        return Role.BENIGN
    if REQUEST_ERROR.search(text):
        return Role.INPUT
    if _WRAPPER.search(text) and not any(u.search(text) for u in _UNWRAP):
        return Role.WRAPPER
    if FRAME.match(text) or _CPP_FRAME.match(text):
        return Role.FRAME
    if _CPP_WHAT.match(text):
        return Role.CAUSE
    exc = EXCEPTION.match(text)
    if exc or _PYDANTIC_VALUE.match(text) or _ERROR_CODE.search(text):
        quiet = line.level in ("WARNING", "WARN", "INFO", "DEBUG")
        # Optional imports fail quietly all the time; a missing *name* is API drift.
        if quiet and not _ERROR_CODE.search(text) and "cannot import name" not in text:
            return Role.WEAK
        if exc and exc.group("name").endswith(("Exit", "Interrupt")):
            return Role.WRAPPER
        return Role.CAUSE
    if _CANN_REASON.search(text) and (_CANN.search(text) or _CANN_TRACE_ENTRY.search(text)):
        return Role.CAUSE
    if _CANN_GENERIC.search(text) or _CANN_TRACEBACK.match(text):
        return Role.WEAK
    if _CANN.search(text) and FAILED_WORDS.search(text):
        return Role.CAUSE
    if _CANN_REPORT.match(text):
        return Role.WEAK
    if line.level in ERROR_LEVELS and FAILED_WORDS.search(text):
        return Role.WEAK
    if line.level is None and TRACEBACK.match(text):
        return Role.FRAME
    if _is_input(text):
        return Role.INPUT
    return Role.CONTEXT


def unwrapped(text: str) -> str:
    for pattern in _UNWRAP:
        m = pattern.search(text)
        if m:
            return m.group("inner").strip()
    text = _CANN_TRACE_ENTRY.sub("", text).strip()
    return text.removeprefix("what():").strip()


def mark_cann_traces(lines: Sequence[LogLine], roles: list[Role]) -> None:
    """The lines of a CANN `TraceBack` say how the call failed inside CANN: detail, not cause."""
    inside = False
    for i, ln in enumerate(lines):
        if _CANN_TRACEBACK.match(ln.text):
            inside = True
        elif inside and _CANN_TRACE_ENTRY.search(ln.text) and not _CANN_REPORT.match(ln.text):
            roles[i] = min(roles[i], Role.WEAK)
        else:
            inside = False
