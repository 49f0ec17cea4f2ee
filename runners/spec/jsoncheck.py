"""The checks a JSON value of a `vllm serve` flag must pass, as small combinators: every
key listed with its type (`obj`), strings as choices or narrow patterns (`choice`,
`word`), numbers in range, lists bounded; keys that vLLM reads as code or paths refused
by name (`DANGEROUS`). `canonical` measures the text before `json.loads` sees it and
returns the checked object re-serialised. The schemas per flag are jsonflags.py's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

MAX_JSON = 2000  # characters
MAX_DEPTH = 5  # the deepest documented key: additional_config.weight_prefetch_config...
MAX_ITEMS = 512  # in any one list

Check = Callable[[object, str], None]  # raises ValueError saying which key and why


class _Refused(ValueError):
    """Why a value is refused; `where` names the key, `what` what it must be."""

    def __init__(self, message: str, where: str = "", what: str | None = None) -> None:
        super().__init__(message)
        self.where, self.what = where, what


def _say(where: str, what: str, value: object) -> _Refused:
    shown = type(value).__name__ if isinstance(value, dict | list) else json.dumps(value)[:40]
    return _Refused(f"`{where or 'the value'}` must be {what}, not {shown}", where, what)


def boolean(value: object, where: str) -> None:
    if not isinstance(value, bool):
        raise _say(where, "true or false", value)


def integer(lo: int = 0, hi: int = 10**9) -> Check:
    def check(value: object, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _say(where, f"a whole number from {lo} to {hi}", value)

    return check


def number(lo: float = 0.0, hi: float = 1e9) -> Check:
    def check(value: object, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise _say(where, f"a number from {lo:g} to {hi:g}", value)

    return check


def choice(*names: str, fold: bool = False) -> Check:
    """One of `names`; `fold`: in any case (vLLM upper-cases enum names itself)."""

    def check(value: object, where: str) -> None:
        if not isinstance(value, str) or (value.upper() if fold else value) not in names:
            raise _say(where, "one of " + ", ".join(repr(n) for n in names), value)

    return check


def word(pattern: str, what: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: object, where: str) -> None:
        if not isinstance(value, str) or compiled.fullmatch(value) is None:
            raise _say(where, what, value)

    return check


def either(*checks: Check) -> Check:
    """The first of `checks` that passes; refused, the refusal from deepest inside."""

    def check(value: object, where: str) -> None:
        errors: list[_Refused] = []
        for one in checks:
            try:
                one(value, where)
                return
            except _Refused as exc:
                errors.append(exc)
        inner = [e for e in errors if e.where != where or e.what is None]
        if inner:
            raise inner[0]
        raise _say(where, " or ".join(str(e.what) for e in errors), value)

    return check


def items(of: Check, max_items: int = MAX_ITEMS) -> Check:
    def check(value: object, where: str) -> None:
        if not isinstance(value, list) or len(value) > max_items:
            raise _say(where, f"a list of at most {max_items} items", value)
        for i, item in enumerate(value):
            of(item, f"{where}[{i}]")

    return check


# Keys that are never allowed, and why (named in the refusal; any other unknown key is
# refused as unknown).
DANGEROUS = {
    "inductor_passes": "names functions vLLM imports",
    "inductor_compile_config": "sets Inductor's compiler and its passes",
    "cache_dir": "a path",
    "local_cache_dir": "a path",
    "debug_dump_path": "a path",
    "expert_map_path": "a path",
    "expert_map_record_path": "a path",
    "dump_config_path": "a path",
    "dump_config": "writes a debugger config to disk",
    "auto_map": "names Python modules to import",
    "tokenizer_class": "names a class to import",
    "processor_class": "names a class to import",
    "_name_or_path": "a path",
    "scheduler_cls": "a dotted name vLLM imports",
    "kv_connector_module_path": "a module to import",
}


def obj(fields: dict[str, Check]) -> Check:
    """An object whose keys are all in `fields`; any value may be null (vLLM's default)."""

    def check(value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise _say(where, "a JSON object", value)
        for key, item in value.items():
            at = f"{where}.{key}" if where else key
            if key not in fields:
                why = DANGEROUS.get(key)
                raise _Refused(
                    f"`{at[:80]}` is not allowed here ({why})"
                    if why
                    else f"`{at[:80]}` is not an allowed key; allowed: "
                    + ", ".join(sorted(fields)),
                    at,
                )
            if item is not None:
                fields[key](item, at)

    return check


def same(names: str, check: Check) -> dict[str, Check]:
    """`check` for each of the whitespace-separated `names`."""
    return dict.fromkeys(names.split(), check)


def _shape(text: str) -> None:
    """Length and nesting, read without parsing: json.loads and any checker recurse."""
    if len(text) > MAX_JSON:
        raise _Refused(f"longer than {MAX_JSON} characters")
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        elif char in "]}":
            depth -= 1


def _no_twice(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"`{key[:80]}` is given twice")
        out[key] = value
    return out


def _no_constant(name: str) -> object:
    raise _Refused(f"`{name}` is not allowed")


def canonical(text: str, schema: Check) -> str:
    """`text` checked against `schema` and re-serialised compactly, or ValueError saying
    why."""
    _shape(text)
    try:
        parsed = json.loads(text, object_pairs_hook=_no_twice, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _Refused(f"not JSON ({exc.msg} at character {exc.pos})") from exc
    schema(parsed, "")
    return json.dumps(parsed, separators=(",", ":"))
