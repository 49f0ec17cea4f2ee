"""Text of the logs people upload to Slack: files and snippets, fetched with the bot token.

The token goes only to Slack's own hosts (or the configured API host), and no file is read
past the size cap: for a large log the end is kept, since that is where the failure is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import FileFetchError

TEXT_TYPES = {"text", "log", "txt", "python", "shell", "json", "yaml", "markdown", "diff", "csv"}
TEXT_SUFFIXES = (".log", ".txt", ".out", ".err", ".json", ".yaml", ".yml", ".md", ".py", ".sh")


@dataclass(frozen=True)
class FileText:
    name: str
    text: bytes
    note: str | None = None


def is_text_file(file: dict[str, Any]) -> bool:
    name = str(file.get("name") or "").lower()
    return (
        file.get("filetype") in TEXT_TYPES
        or str(file.get("mimetype") or "").startswith("text/")
        or name.endswith(TEXT_SUFFIXES)
        or file.get("mode") == "snippet"
    )


SLACK_DOMAINS = ("slack.com", "slack-gov.com")


def _trusted(url: str, api_url: str) -> bool:
    """Slack's own file hosts over https, or the configured API host (a proxy, the fake)."""
    parts, api = urlsplit(url), urlsplit(api_url)
    if parts.hostname and parts.hostname == api.hostname and parts.scheme == api.scheme:
        return True
    host = parts.hostname or ""
    return parts.scheme == "https" and any(
        host == d or host.endswith("." + d) for d in SLACK_DOMAINS
    )


def fetch(client: WebClient, file_id: str, *, token: str, api_url: str, max_bytes: int) -> FileText:
    """Fetch one file's text through files.info and its private download URL."""
    try:
        info = client.files_info(file=file_id)["file"]
    except SlackApiError as exc:
        raise FileFetchError(
            f"Slack did not give me the file: {exc.response.get('error')}", file_id
        ) from exc
    name = str(info.get("name") or file_id)
    if not is_text_file(info):
        raise FileFetchError(f"{name} is not a text file", file_id)
    url = str(info.get("url_private_download") or info.get("url_private") or "")
    if not url or not _trusted(url, api_url):
        raise FileFetchError(
            f"{name} is not stored on Slack, so I will not send my token there", file_id
        )
    size = int(info.get("size") or 0)
    headers = {"Authorization": f"Bearer {token}"}
    if size > max_bytes:
        headers["Range"] = f"bytes=-{max_bytes}"  # the end of the log holds the failure
    try:
        with httpx.stream("GET", url, headers=headers, timeout=30.0) as response:
            response.raise_for_status()
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= max_bytes:
                    break
            kept_tail = response.status_code == 206
    except httpx.HTTPError as exc:
        raise FileFetchError(f"downloading {name} failed: {type(exc).__name__}", file_id) from exc
    note = None
    if size > max_bytes or len(data) >= max_bytes:
        part = "last" if kept_tail else "first"
        note = f"{name} is {size:,} bytes: I read its {part} {max_bytes:,}."
    return FileText(name, bytes(data[:max_bytes]), note)
