"""Secrets out of anything a runner posts: tokens, keys and passwords in logs and argv."""

from __future__ import annotations

import re
from typing import Any

MASK = "[redacted]"
_PATTERNS = (
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack tokens
    re.compile(r"xapp-[A-Za-z0-9-]{8,}"),
    re.compile(r"\bhf_[A-Za-z0-9]{16,}"),  # Hugging Face
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style API keys
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bghp_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\boncall_[A-Za-z0-9_-]{20,}"),  # our own agent tokens
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"),  # user:password@ in URLs
)
_ASSIGNMENT = re.compile(
    r"(?i)\b([A-Za-z0-9_]*(?:token(?!s\b|izer)|secret|password|passwd|api_?key)[A-Za-z0-9_]*)"
    r"(\s*[=:]\s*|['\"]\s*:\s*['\"]?)([^\s'\",}]{4,})"
)


def redact(text: str) -> str:
    """`text` with every secret-looking value replaced by [redacted]."""
    for pattern in _PATTERNS:
        text = pattern.sub(MASK, text)
    return _ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def redact_data(value: Any) -> Any:
    """`value` (JSON-like data) with every string in it redacted; the structure stays valid."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
