"""Read clean log lines for what failed first.

Python tracebacks put the exception last; torch_npu and CANN put `... error code is N`
first, then ERRxxxxx / EZ9999-style lines and a CANN `TraceBack`; vLLM wraps the cause in
`EngineDeadError`, `Engine core initialization failed. See root cause above` or
`Worker failed with error '<X>'`. The reader gives each line a role, picks the first line
that is a cause rather than a wrapper, and derives facts the text alone does not say
(`@first-request-crash`, `@capture-in-progress`, ...).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from kb.logtext import LogLine, normalise


class Role(enum.IntEnum):
    """How much a line says about the failure, from most to least."""

    CAUSE = 6  # an exception, an error code
    WEAK = 5  # an ERROR line, a generic CANN header, an exception logged as a warning
    FRAME = 4  # a traceback frame
    INPUT = 3  # what the user ran or got back: a command, flags, config, a JSON reply
    WRAPPER = 2  # says something failed elsewhere
    CONTEXT = 1  # startup INFO lines, prose
    BENIGN = 0  # known noise that looks alarming


_EXCEPTION = re.compile(
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
_FAILED_WORDS = re.compile(
    r"\b(?:failed|failure|fatal|error|errno|cannot|can't|unable|not supported|"
    r"unsupported|invalid|mismatch|refused|denied|no such|not found|out of memory|"
    r"timed out|times out|timeout)\b",
    re.IGNORECASE,
)
_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+(?:, in (?P<func>[\w<>.]+))?')
_INPUT = re.compile(
    r"^\s*(?:\([\w.-]{1,40}\)\s)?[\w.-]{1,64}@[\w.-]{1,64}:[^\s#$]{0,200}[#$]\s|"  # user@host:~$
    r"^\s*\$\s+\S|^\s*(?:[$#>]\s+)?(?:export\s+[A-Z_][A-Z0-9_]*=|(?:[A-Z_][A-Z0-9_]*=\S*\s+)+\S|"
    r"(?:python3?\s+-m\s+)?vllm[\s.]|curl\s|docker\s+run|python3?\s+-c\s)|"
    r"non-default args:|Initializing a V1 LLM engine|^\s*(?:[{\[]\s*)?\"[\w.]+\"\s*:|"
    r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+=\S"
)
# A refused request on a server that keeps serving: the user's input, not a crash.
_REQUEST_ERROR = re.compile(
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
_TRACEBACK = re.compile(r"^\s*Traceback \(most recent call last\):")
_CANN_TRACEBACK = re.compile(r"^\s*TraceBack \(most recent call last\):")  # ends a CANN report
_UNWRAP = (
    re.compile(r"Worker failed with error '(?P<inner>.+)'(?:, please check the stack trace.*)?$"),
    re.compile(r"NPUModelRunner failed, error is (?P<inner>.+)$"),
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
    r"is deprecated and will be removed"
)

_READY = re.compile(
    r"Application startup complete|Starting vLLM (?:API )?server|Available routes are|"
    r'"GET /v1/models HTTP/1\.\d" 200'
)
_REQUEST_DEATH = re.compile(
    r'"POST /v1/\S{0,100} HTTP/1\.\d" 500\b|"code":\s?500\b.{0,40}$|EngineCore encountered an issue'
)
# Once the server is being stopped, an engine that dies is the stop, not a crash.
_SHUTDOWN = re.compile(
    r"Shutting down|Waiting for application shutdown|\[shutdown\]|"
    r"Received (?:SIGINT|SIGTERM|signal)|Interrupted by user"
)
# argparse refusing the command line: the user's input, whatever words it lists.
_USAGE_ERROR = re.compile(
    r"^[\w./-]{1,80}(?: [\w-]{1,40})?: error: (?:argument |unrecognized arguments|"
    r"the following arguments are required)"
)
_REQUEST_OK = re.compile(r'"POST /v1/(?:chat/)?completions HTTP/1\.\d" 200')
_THROUGHPUT = re.compile(r"Avg prompt throughput|Engine \d+: Avg")
_DEATH = re.compile(
    r"EngineDeadError|EngineCore encountered a fatal error|died unexpectedly|"
    r"Worker failed with error|WorkerProc hit an exception|500 Internal Server Error|"
    r"AsyncLLM output_handler failed|MQLLMEngine is already dead"
)
_CAPTURE = re.compile(
    r"Capturing (?:CUDA|ACL) graphs|Starting to capture ACL graphs|Capturing torchair graph"
)
_CAPTURE_DONE = re.compile(r"Graph capturing finished|Loading torchair graph cache")
_CAPTURE_TOOK = re.compile(r"Graph capturing finished in (\d+) secs")
_LONG_CAPTURE_S = 300  # on-call hears "is it hung?" well before this; capture can take 20 min

# Serving that long before the engine died is not a first-request crash.
_LONG_SERVING_S = 1800
_FEW_REQUESTS = 3

_SHORT_MESSAGE = 20  # characters: shorter exception messages get the failing source line
_TRANSFORMERS_IMPORT = re.compile(
    r"cannot import name '?\w+'? from '?transformers\b|No module named '?transformers\."
)

_PACKAGE_ROOTS = ("vllm_ascend/", "vllm/", "torch_npu/", "torch/", "transformers/")

# A package missing from the environment (torchvision, flash_attn) is the environment's
# problem: not an architecture vLLM does not know, nor transformers drift. vLLM's and the
# model's own modules are left out: a missing `vllm.model_executor.models.x` is a
# registry mismatch, a missing `transformers.models.x` is drift.
_MISSING_MODULE = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '?(\w+)")
_OWN_MODULES = frozenset({"vllm", "vllm_ascend", "transformers", "transformers_modules"})


# What each fact means, in words a runbook would use: it joins the text that is searched.
FACT_TEXT = {
    "@first-request-crash": (
        "startup succeeded and was ready, then the first request crashed the engine"
    ),
    "@died-after-serving": "the engine died after serving requests for a long time",
    "@capture-in-progress": "startup is still capturing graphs, not ready yet, looks stuck",
    "@long-capture": "graph capture took a very long time during startup",
    "@wrong-vllm-imported": "python imports a different vllm than the installed one you edited",
    "@garbled-output": "the server answers but the generated output text is garbled gibberish",
}


@dataclass(frozen=True)
class Reading:
    lines: tuple[LogLine, ...]
    roles: tuple[Role, ...]
    texts: tuple[str, ...]  # line text as matched: frames gain their dotted name
    cause: int | None  # index into lines of the root-cause line
    signature: str | None  # the root-cause message, unwrapped
    facts: frozenset[str]
    partial: bool  # the paste stops inside a traceback: its last lines are missing

    @property
    def only_wrappers(self) -> bool:
        return self.cause is None and Role.WRAPPER in self.roles

    @property
    def has_errors(self) -> bool:
        """Anything in the paste says something failed (a cause, a wrapper, a traceback)."""
        return any(r >= Role.FRAME or r is Role.WRAPPER for r in self.roles)


def _dotted(path: str, func: str | None) -> str:
    for root in _PACKAGE_ROOTS:
        at = path.rfind("/" + root)
        if at >= 0 or path.startswith(root):
            module = path[at + 1 :] if at >= 0 else path
            name = module.removesuffix(".py").replace("/", ".")
            return f"{name}.{func}" if func else name
    return ""


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


_ERROR_LEVELS = ("ERROR", "CRITICAL", "FATAL")


def _role(line: LogLine) -> Role:
    if line.level not in _ERROR_LEVELS:
        low = line.text.lower()
        if not any(w in low for w in _SUSPECT_WORDS) and not _SUSPECT_SHAPES.search(line.text):
            return Role.INPUT if _is_input(line.text) else Role.CONTEXT
    return _full_role(line)


def _is_input(text: str) -> bool:
    """A command, config or reply the user pasted: two flags on a line count as a command."""
    return (
        bool(_INPUT.search(text) or _REQUEST_ERROR.search(text))
        or len(_FLAG_TOKEN.findall(text, 0, 2000)) >= 2
    )


def _full_role(line: LogLine) -> Role:
    text = line.text
    if _BENIGN.search(text):
        return Role.BENIGN
    if _REQUEST_ERROR.search(text):
        return Role.INPUT
    if _WRAPPER.search(text) and not any(u.search(text) for u in _UNWRAP):
        return Role.WRAPPER
    if _FRAME.match(text) or _CPP_FRAME.match(text):
        return Role.FRAME
    if _CPP_WHAT.match(text):
        return Role.CAUSE
    exc = _EXCEPTION.match(text)
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
    if _CANN.search(text) and _FAILED_WORDS.search(text):
        return Role.CAUSE
    if _CANN_REPORT.match(text):
        return Role.WEAK
    if line.level in _ERROR_LEVELS and _FAILED_WORDS.search(text):
        return Role.WEAK
    if line.level is None and _TRACEBACK.match(text):
        return Role.FRAME
    if _is_input(text):
        return Role.INPUT
    return Role.CONTEXT


def _unwrapped(text: str) -> str:
    for pattern in _UNWRAP:
        m = pattern.search(text)
        if m:
            return m.group("inner").strip()
    text = _CANN_TRACE_ENTRY.sub("", text).strip()
    return text.removeprefix("what():").strip()


# Builtin exceptions whose message alone does not say what failed: the frame above does.
_NEEDS_FRAME = re.compile(
    r"^\s*(?:AssertionError|AttributeError|KeyError|IndexError|TypeError|NotImplementedError)\b"
)
_FRAMES_BACK = 8
_FRAME_TAIL = re.compile(r'(?P<path>[\w./-]{1,300}\.py)", line \d+, in (?P<func>[\w<>.]{1,100})')


def _frame_context(lines: Sequence[LogLine], roles: Sequence[Role], at: int) -> tuple[str, str]:
    """The source line and the dotted function of the innermost frame above line `at`.

    Pastes often lose a frame's `File "` (a cut copy) or its role (chat around it), so
    position is what tells: the code line just above the exception, the frame above that."""
    source = where = ""
    for i in range(at - 1, max(-1, at - 1 - _FRAMES_BACK), -1):
        text = lines[i].text
        frame = _FRAME.match(text) or _FRAME_TAIL.search(text)
        if frame:
            where = _dotted(frame.group("path"), frame.group("func")) or (frame.group("func") or "")
            break
        if roles[i] not in (Role.FRAME, Role.CONTEXT) or not text.strip(" ^~"):
            continue
        if not source:
            source = text.strip()
        elif roles[i] is not Role.FRAME:
            break  # two plain lines above the exception: prose, not a traceback
    return source, where


_CUDA = re.compile(
    r"platform cuda|\bCUDA (?:out of memory|error)|\bcuda(?:Error|Malloc)|torch\.cuda\.|"
    r"compute capability|Current capability: \d|\bNCCL\b|\bnvidia\b|\bGPU\b",
    re.IGNORECASE,
)
_NPU = re.compile(
    r"\bnpu\b|torch_npu|vllm_ascend|vllm-ascend|Ascend|\bCANN\b|HCCL|aclnn|\bACL\b", re.IGNORECASE
)


def _platform(lines: Sequence[LogLine]) -> set[str]:
    """`@platform-cuda` when the paste is from an NVIDIA GPU and shows nothing of an NPU."""
    cuda = npu = False
    for ln in lines:
        cuda = cuda or bool(_CUDA.search(ln.text))
        npu = npu or bool(_NPU.search(ln.text))
        if npu:
            return set()
    return {"@platform-cuda"} if cuda else set()


_SCRIPTS = ("CJK", "HANGUL", "CYRILLIC", "HEBREW", "ARABIC", "THAI", "HIRAGANA", "KATAKANA",
            "DEVANAGARI", "GREEK", "LATIN")  # fmt: skip
_GARBLED_SCRIPTS = 3  # prose mixes two (Chinese and English); token salad mixes many
_GARBLED_CHARS = 300
_GARBLED_LINES = 2000


def _scripts(text: str) -> set[str]:
    found = set()
    for ch in text[:_GARBLED_CHARS]:
        if ch.isascii():
            if ch.isalpha():
                found.add("LATIN")
        elif ch.isalpha():
            name = unicodedata.name(ch, "")
            found.update(s for s in _SCRIPTS if name.startswith(s))
    return found


def _garbled(lines: Sequence[LogLine], roles: Sequence[Role]) -> bool:
    """Generated text that is token salad: one plain line mixing three or more scripts."""
    checked = 0
    for ln, role in zip(lines, roles, strict=True):
        if role is not Role.CONTEXT or ln.text.isascii():
            continue
        if len(_scripts(ln.text)) >= _GARBLED_SCRIPTS:
            return True
        checked += 1
        if checked >= _GARBLED_LINES:
            break
    return False


# Generated text, where a reply shows it: the content of a JSON reply.
_GENERATED = re.compile(r'"(?:content|text|reasoning_content)":\s?"(?P<text>[^"]{1,2000})')
_DECORATION = frozenset(" \t-=_*#.~+|/\\<>:;'`()[]{}0123456789█─━│┃▏▎▍▌▋▊▉")
_REPEATS = 8  # a unit said this many times in a row is a model stuck, not a sentence
_UNIT = 4  # the longest unit checked, in characters


def _stuck(text: str) -> bool:
    """A short unit said back to back: `!!!!!!!!`, a row of fullwidth commas, `the the the`."""
    text = text[:_GARBLED_CHARS]
    for size in range(1, _UNIT + 1):
        run, i = 1, size
        while i + size <= len(text):
            unit = text[i : i + size]
            if unit == text[i - size : i] and not set(unit) <= _DECORATION:
                run += 1
                if run >= _REPEATS:
                    return True
                i += size
            else:
                run, i = 1, i + 1
    return False


def _degenerate(lines: Sequence[LogLine]) -> bool:
    """A reply whose generated text repeats itself: the model is stuck on a token. Only a
    reply's own text counts: people write `??????` and `!!!!!!!!` in prose too."""
    for ln in lines[:_GARBLED_LINES]:
        if (m := _GENERATED.search(ln.text[:20_000])) and _stuck(m.group("text")):
            return True
    return False


def _missing_package(lines: Sequence[LogLine], roles: Sequence[Role]) -> bool:
    for ln, role in zip(lines, roles, strict=True):
        m = _MISSING_MODULE.search(ln.text) if role is Role.CAUSE else None
        if m and m.group(1) not in _OWN_MODULES:
            return True
    return False


_REMOTE_CODE = re.compile(r"transformers_modules|trust[_-]remote[_-]code|/modeling_\w+\.py")


def _import_origin(where: str, lines: Sequence[LogLine]) -> str:
    """Whose import of a transformers name failed: vLLM's, a model's, or the paste can't say.

    A bare `cannot import name X from transformers` is as often vLLM's own import on an old
    transformers (upgrade it) as a model's remote code on a new one (do not upgrade it)."""
    if where.startswith("vllm"):
        return "@import-in-vllm"
    if where or any(_REMOTE_CODE.search(ln.text) for ln in lines):
        return "@import-elsewhere"
    return "@import-no-origin"


# vLLM failing to import itself: the `vllm` Python found is not the built install (a source
# tree without its compiled parts, a namespace dir, a second copy earlier on the path).
_SELF_IMPORT = re.compile(
    r"from '(?:vllm|vllm_ascend)' \(unknown location\)|No module named '?vllm\._version|"
    r"^\s*(?:ModuleNotFoundError|ImportError): No module named '?vllm\.(?!model_executor\.models)"
)


def _imports_wrong_vllm(lines: Sequence[LogLine]) -> bool:
    """Whether the paste shows vLLM imported from somewhere other than its install."""
    roots = set()
    for ln in lines:
        if _SELF_IMPORT.search(ln.text):
            return True
        frame = _FRAME.match(ln.text)
        path = frame.group("path") if frame else ""
        if path.endswith(".py") and (at := path.find("/vllm/")) >= 0:
            roots.add(path[:at])
    return len(roots) >= 2  # two copies of vllm in one traceback: one shadows the other


def _cann_traces(lines: Sequence[LogLine], roles: list[Role]) -> None:
    """The lines of a CANN `TraceBack` say how the call failed inside CANN: detail, not cause."""
    inside = False
    for i, ln in enumerate(lines):
        if _CANN_TRACEBACK.match(ln.text):
            inside = True
        elif inside and _CANN_TRACE_ENTRY.search(ln.text) and not _CANN_REPORT.match(ln.text):
            roles[i] = min(roles[i], Role.WEAK)
        else:
            inside = False


def _facts(lines: Sequence[LogLine], roles: Sequence[Role]) -> set[str]:
    facts: set[str] = set()
    ready = next((i for i, ln in enumerate(lines) if _READY.search(ln.text)), None)
    stop = next(
        (
            i
            for i, ln in enumerate(lines)
            if (ready is None or i > ready) and _SHUTDOWN.search(ln.text)
        ),
        len(lines),
    )
    if ready is None and any(_REQUEST_DEATH.search(ln.text) for ln in lines):
        # A request got a 500 from a dead engine: the server was up, but which request it
        # was the paste does not say.
        facts.add("@crash-on-request")
    death = next(
        (
            i
            for i, ln in enumerate(lines)
            if (ready is None or i > ready) and i < stop and _DEATH.search(ln.text)
        ),
        None,
    )
    if ready is not None and death is not None:
        between = lines[ready:death]
        served = sum(1 for ln in between if _REQUEST_OK.search(ln.text))
        busy = sum(1 for ln in between if _THROUGHPUT.search(ln.text))
        t0, t1 = lines[ready].seconds, lines[death].seconds
        long_gap = t0 is not None and t1 is not None and t1 - t0 > _LONG_SERVING_S
        if served <= _FEW_REQUESTS and busy <= _FEW_REQUESTS and not long_gap:
            facts.add("@first-request-crash")
        else:
            facts.add("@died-after-serving")
    if death is None and any(_REQUEST_ERROR.search(ln.text) for ln in lines):
        facts.add("@request-error")
    if any(_USAGE_ERROR.match(ln.text) for ln in lines):
        facts.add("@usage-error")
    captures = [i for i, ln in enumerate(lines) if _CAPTURE.search(ln.text)]
    if captures:
        last = captures[-1]
        after = range(last + 1, len(lines))
        done = any(
            _CAPTURE_DONE.search(lines[i].text) or _READY.search(lines[i].text) for i in after
        )
        failed = any(roles[i] >= Role.WEAK for i in range(len(lines)))
        if not done and not failed:
            facts.add("@capture-in-progress")
    took = [int(m.group(1)) for ln in lines if (m := _CAPTURE_TOOK.search(ln.text))]
    if took and max(took) >= _LONG_CAPTURE_S and not any(r >= Role.WEAK for r in roles):
        facts.add("@long-capture")
    return facts


def _is_partial(roles: Sequence[Role], lines: Sequence[LogLine]) -> bool:
    """A traceback whose frames run to the end of the paste with no exception after them."""
    last_frame = max((i for i, r in enumerate(roles) if r is Role.FRAME), default=None)
    if last_frame is None:
        return False
    tail = range(last_frame + 1, len(lines))
    return not any(roles[i] in (Role.CAUSE, Role.WEAK, Role.WRAPPER) for i in tail)


def read(lines: Sequence[LogLine]) -> Reading:
    roles = [_role(ln) for ln in lines]
    for i in range(1, len(roles)):
        # The source line under a `File "...", line N` frame belongs to the traceback (log
        # prefixes took its indent away, so position is what tells).
        if roles[i] in (Role.CONTEXT, Role.INPUT) and _FRAME.match(lines[i - 1].text):
            roles[i] = Role.FRAME
    for i in range(len(roles) - 1):
        # `logger.exception(e)` prints the exception's message on an ERROR line, then its
        # traceback: that line is the error even in words no pattern knows.
        if (
            roles[i] is Role.CONTEXT
            and lines[i].level in _ERROR_LEVELS
            and _TRACEBACK.match(lines[i + 1].text)
        ):
            roles[i] = Role.WEAK
    _cann_traces(lines, roles)
    texts = []
    for ln in lines:
        frame = _FRAME.match(ln.text)
        dotted = _dotted(frame.group("path"), frame.group("func")) if frame else ""
        texts.append(f"{ln.text} {dotted}" if dotted else ln.text)
    # A wrapper is never the root cause: with only wrappers, the cause was not pasted.
    cause = None
    for wanted in (Role.CAUSE, Role.WEAK):
        cause = next((i for i, r in enumerate(roles) if r is wanted), None)
        if cause is not None:
            break
    signature = _unwrapped(lines[cause].text) if cause is not None else None
    facts = _facts(lines, roles)
    if cause is not None and signature is not None:
        source, where = _frame_context(lines, roles, cause)
        message = signature.split(":", 1)[1].strip() if ":" in signature else ""
        exc = _EXCEPTION.match(signature)
        if (
            exc
            and (_NEEDS_FRAME.match(signature) or len(message) < _SHORT_MESSAGE)
            and (source or where)
        ):
            # `AssertionError` alone says nothing; `assert n % tp_size == 0` in qwen3 does.
            context = " ".join(x for x in (source, f"in {where}" if where else "") if x)
            texts[cause] = f"{texts[cause]} {context}"
            if len(message) < _SHORT_MESSAGE:
                signature = f"{signature} (at {context})"
        if _TRANSFORMERS_IMPORT.search(signature):
            facts.add(_import_origin(where, lines))
    if any("transformers_modules" in ln.text for ln in lines):
        facts.add("@remote-code-module")
    facts |= _platform(lines)
    if _garbled(lines, roles) or _degenerate(lines):
        facts.add("@garbled-output")
    if _missing_package(lines, roles):
        facts.add("@missing-package")
    if _imports_wrong_vllm(lines):
        facts.add("@wrong-vllm-imported")
    return Reading(
        lines=tuple(lines),
        roles=tuple(roles),
        texts=tuple(texts),
        cause=cause,
        signature=signature,
        facts=frozenset(facts),
        partial=_is_partial(roles, lines),
    )


_MODEL_IN_LOG = re.compile(
    r"vllm serve\s+(?:--model\s+)?([^\s'\"-][^\s'\"]*)|model='([^']+)'|\"model\":\s*\"([^\"]+)\""
)
_MODELS_READ = 500_000  # characters: the command line and the engine config come first


def models_in_log(text: str) -> tuple[str, ...]:
    """The models a pasted log names as served (`vllm serve X`, `model='X'`), in order.
    Names only: whether one may be launched is the runner's rule, not the reader's."""
    return tuple(
        next(g for g in found.groups() if g)
        for found in _MODEL_IN_LOG.finditer(text[:_MODELS_READ])
    )


def root_cause(log_text: str, before: int = 3, after: int = 12) -> tuple[str, list[str]] | None:
    """The first root-cause line of a log (wrappers skipped) and the lines around it."""
    lines = normalise(log_text).lines
    reading = read(lines)
    if reading.cause is None or reading.signature is None:
        return None
    lo, hi = max(0, reading.cause - before), reading.cause + after
    return reading.signature, [ln.text for ln in lines[lo:hi]]
