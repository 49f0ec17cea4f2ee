"""Secrets out of anything a runner posts: tokens, keys and passwords in logs and argv.

Three kinds of rule, each linear in its input (bounded names, no nested repeats):
- token formats known by their shape (`xoxb-`, `github_pat_`, `hf_`, JWTs, AWS key ids, ...);
- a value after a name that says it is secret (`*token*=`, `password: `, `x-api-key:`,
  `Authorization: Basic ...`, `--password X`, `user:pw@` in a URL);
- PEM private key blocks, which span lines: `redact_lines` follows them across lines (a log
  tail may start or end inside one).
The rest of a line is kept, so a redacted log still reads.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

MASK = "[redacted]"

_TOKENS = re.compile(
    r"\b(?:"
    r"xox(?:e\.xox[abp]|[abcdeoprs])-[A-Za-z0-9-]{8,}"  # Slack: bot, user, refresh (xoxe-)
    r"|xapp-[A-Za-z0-9-]{8,}"  # Slack app-level
    r"|github_pat_[A-Za-z0-9_]{20,}|gh[opusr]_[A-Za-z0-9]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|hf_[A-Za-z0-9]{16,}"  # Hugging Face
    r"|sk-[A-Za-z0-9_-]{16,}|(?:sk|rk)_live_[A-Za-z0-9]{16,}"  # OpenAI-style, Stripe
    r"|npm_[A-Za-z0-9]{30,}"
    r"|AIza[0-9A-Za-z_-]{35}"  # Google API keys
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key ids
    r"|oncall_[A-Za-z0-9_-]{20,}"  # our own agent tokens
    # JWTs; one start per run of their letters, or a dotless run costs its length squared
    r"|(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{5,}"
    r")"
)
# An AWS key id with its secret beside it, or a secret after its (spaced) name.
_AWS_PAIR = re.compile(r"\b((?:AKIA|ASIA)[0-9A-Z]{16})([ \t,:;|'\"=]{1,8})([A-Za-z0-9/+]{40})\b")
_AWS_SECRET = re.compile(
    r"(?i)(secret[ _-]?access[ _-]?key[^=:\n]{0,24}[=:][ \t]*['\"]?)([A-Za-z0-9/+]{40})"
)
_SLACK_HOOK = re.compile(r"(?<=hooks\.slack\.com/)(services|workflows|triggers)/[A-Za-z0-9/_-]+")
_URL_USER = re.compile(
    r"(?<=://)(?:[^/\s:@]{1,256}:[^/\s@]{1,256}|[A-Za-z0-9_.~+-]{16,256})(?=@)"
)  # user:password@, or a token as the user
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization['\"]?[ \t]*[:=][ \t]*['\"]?"
    r"(?:(?:basic|bearer|token|digest|negotiate|ntlm|apikey)[ \t]+)?)([^\s'\",;]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer[ \t]+)([A-Za-z0-9._~+/=-]{8,})")
_COOKIE = re.compile(r"(?i)\b((?:set-)?cookie[ \t]*:[ \t]*)(\S.*)")
_SECRET_FLAG = (
    r"--?(?:pwd|passw(?:or)?d|pass|token|auth[-_]?token|access[-_]?token|api[-_]?key|secret"
    r"|client[-_]?secret|private[-_]?key)"
)
_FLAG_VALUE = re.compile(rf"(?i)(?<![\w-])({_SECRET_FLAG}(?:[ \t]++|=))(?!-)(\S+)")
_FLAG_ALONE = re.compile(rf"(?i){_SECRET_FLAG}")
_FLAG_LINE = re.compile(rf"(?im)^[ \t]*{_SECRET_FLAG}[ \t]*$")
# name=value, name: value, "name": "value"; names bounded so a long word costs no more
# than its length. `tokens`, `tokenizer`, `token_ids`, `eos_token` are not secrets.
_NAME = (
    r"[A-Za-z0-9_]{0,40}(?:token(?!s(?:\b|_)|izer|_?ids?\b|_?type|_?budget|_?count)"
    r"|secret|passw(?:or)?d|pwd|api[-_]?key|access[-_]?key|private[-_]?key|account[-_]?key"
    r"|credentials?)[A-Za-z0-9_]{0,40}"
)
_ASSIGNMENT = re.compile(
    rf"(?i)\b({_NAME})(['\"]?[ \t]*+[=:][ \t]*+)"
    r"(\"[^\"\n]{1,512}\"|'[^'\n]{1,512}'|['\"]?[^\s'\",;}&]{4,})"
)
_NOT_SECRET_NAMES = re.compile(
    r"(?i)(pad|bos|eos|unk|sep|cls|mask|image|video|audio|vision|start|end)_token|pwd|oldpwd"
)
_NOT_SECRET_VALUES = frozenset({"none", "null", "true", "false", "empty", MASK.lower()})

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/=]{16,}")
_PEM_MAX_LINES = 200  # a 8192-bit RSA key is ~100 lines of base64


def _assignment(m: re.Match[str]) -> str:
    name, sep, value = m.group(1), m.group(2), m.group(3)
    bare = value.strip("'\"")
    if _NOT_SECRET_NAMES.fullmatch(name) or bare.lower() in _NOT_SECRET_VALUES:
        return m.group(0)
    quote = value[0] if value[0] in "'\"" and value[-1] == value[0] and len(value) > 1 else ""
    return f"{name}{sep}{quote}{MASK}{quote}"


def _keep_name(m: re.Match[str]) -> str:
    return m.group(1) + MASK


# Each rule with the words (lower case) a line must hold for it to apply: a cheap `in`
# spares most lines most rules.
_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str], tuple[str, ...]], ...] = (
    (_AWS_PAIR, lambda m: f"{MASK}{m.group(2)}{MASK}", ("akia", "asia")),
    (_AWS_SECRET, _keep_name, ("access",)),
    (_TOKENS, lambda m: MASK, ()),
    (_SLACK_HOOK, lambda m: MASK, ("hooks.slack.com",)),
    (_URL_USER, lambda m: MASK, ("://",)),
    (_AUTH_HEADER, _keep_name, ("authorization",)),
    (_BEARER, _keep_name, ("bearer",)),
    (_COOKIE, _keep_name, ("cookie",)),
    (_FLAG_VALUE, _keep_name, ("pwd", "pass", "token", "key", "secret")),
)
_KEYWORD = re.compile(
    r"(?i)token|secret|passw|pwd|api[-_]?key|access[-_]?key|private[-_]?key|account[-_]?key"
    r"|credential"
)
_WORD_END = re.compile(r"\b[A-Za-z0-9_]{0,40}$")  # searched up to a keyword: its word's start


def _assignments(text: str) -> str:
    """`_ASSIGNMENT` tried only where a keyword is, from the start of its word (at most 40
    letters back): trying it at every word costs several times more."""
    out: list[str] = []
    done = 0
    for hit in _KEYWORD.finditer(text):
        at = hit.start()
        if at < done:
            continue
        if at > done and (text[at - 1].isalnum() or text[at - 1] == "_"):  # mid-word
            word = _WORD_END.search(text, max(done, at - 40), at)
            if word is None:
                continue  # a word this long is no name
            at = word.start()
        found = _ASSIGNMENT.match(text, at)
        if found is not None:
            out += [text[done:at], _assignment(found)]
            done = found.end()
    return "".join(out) + text[done:] if out else text


def _line(text: str) -> str:
    """The one-line rules on `text` (no PEM blocks)."""
    lower = text.lower()
    for pattern, replace, needs in _RULES:
        if not needs or any(word in lower for word in needs):
            text = pattern.sub(replace, text)
    return _assignments(text)


def _stream(lines: Iterable[str]) -> Iterator[str]:
    """`lines` redacted, in order, PEM blocks followed across lines. A block whose BEGIN
    came before the first line (a tail) is the base64 run just before its END: runs are
    held back (bounded) until the next line says what they were."""
    in_key = mask_next = False
    key_lines = 0  # a BEGIN with no END masks this many lines at most
    held: deque[str] = deque()
    for line in lines:
        if in_key:
            end = _PEM_END.search(line)
            key_lines += 1
            if end is None and key_lines <= _PEM_MAX_LINES:
                continue
            in_key, line = False, line[end.end() :] if end else line
            if not line.strip():
                continue
        marked = "-----" in line
        begin = _PEM_BEGIN.search(line) if marked else None
        end = _PEM_END.search(line) if marked else None
        if not marked and _BASE64_LINE.fullmatch(line.strip()):
            held.append(line)
            if len(held) <= _PEM_MAX_LINES:
                continue
            line = held.popleft()
            yield MASK if mask_next else _line(line)
            mask_next = False
            continue
        if end is not None and (begin is None or end.start() < begin.start()):
            held.clear()  # the body of a key whose BEGIN we never saw
            line = MASK + line[end.end() :]
        while held:
            first = held.popleft()
            yield MASK if mask_next else _line(first)
            mask_next = False
        begin = _PEM_BEGIN.search(line) if marked else None
        if begin is not None:
            end = _PEM_END.search(line, begin.end())
            if end is None:
                in_key, key_lines, line = True, 0, line[: begin.start()] + MASK
            else:
                line = line[: begin.start()] + MASK + line[end.end() :]
        out = MASK if mask_next else _line(line)
        # argv as a list: `--password` then its value as the next item
        mask_next = len(line) < 40 and _FLAG_ALONE.fullmatch(line.strip()) is not None
        yield out
    for line in held:
        yield MASK if mask_next else _line(line)
        mask_next = False


def redact_lines(lines: Iterable[str]) -> list[str]:
    """Log lines (or argv) with every secret masked; a PEM key's lines become one mask."""
    return list(_stream(lines))


def redact(text: str) -> str:
    """`text` with every secret-looking value replaced by [redacted]."""
    if "-----" not in text and _FLAG_LINE.search(text) is None:
        return _line(text)  # every one-line rule stops at a newline: no need to split
    return "\n".join(_stream(text.split("\n")))


def redact_data(value: Any) -> Any:
    """`value` (JSON-like data) with every string in it redacted; the structure stays valid
    (a list of strings may come back shorter: a PEM block is one item)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, str) for v in value):
            return redact_lines(value)
        return [redact_data(v) for v in value]
    return value


def redact_file(path: Path) -> None:
    """Redact a log file in place, line by line (a server log can be large); the file is
    replaced whole, so a reader sees the old or the new one."""
    partial = path.with_name(path.name + ".redacting")
    with path.open(encoding="utf-8", errors="replace", newline="") as src:
        lines = (line.removesuffix("\n") for line in src)
        with partial.open("w", encoding="utf-8", newline="") as out:
            for line in _stream(lines):
                out.write(line + "\n")
    partial.replace(path)
