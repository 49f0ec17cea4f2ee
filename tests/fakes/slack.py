"""A fake Slack on loopback that the real slack_sdk / slack-bolt clients talk to.

* Web API at `<url>/api/<method>` (point SLACK_API_URL there): records every call, answers
  auth.test, chat.postMessage/update/postEphemeral, views.open, conversations.replies,
  files.info, apps.connections.open; can answer 429 with Retry-After, or an error.
* Files upload v2: files.getUploadURLExternal answers an upload URL on the fake itself
  (`<url>/upload/<id>`), the bytes POSTed there are kept in `uploads`, and
  files.completeUploadExternal shares them (`shared`: file id -> channel_id, thread_ts).
  `failing["upload"] = N` answers the next N upload POSTs with a 500.
* File downloads at `<url>/files/<id>`, only with the bot token, honouring `Range: bytes=-N`.
* response_url posts at `<url>/respond/<id>`.
* `sign()` builds the headers Slack puts on requests to the app, with a real signature.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from slack_sdk.signature import SignatureVerifier

BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
SIGNING_SECRET = "fake-signing-secret"
TEAM = "T0FAKE"
BOT_USER = "UBOT"
BOT_ID = "BBOT"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)
    response: dict[str, Any] = field(default_factory=dict)  # what the fake answered


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.changed = threading.Condition()
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.not_in: set[str] = set()  # channels where chat.postMessage says not_in_channel
        self.rate_limited: dict[str, int] = {}  # method -> how many 429s to answer first
        self.socket_url: str | None = None
        self.groups: dict[str, list[str]] = {}  # user group id -> member user ids
        self.failing: dict[str, int] = {}  # method -> how many internal_errors to answer first
        self.uploads: dict[str, bytes] = {}  # file id -> the bytes POSTed to its upload URL
        self.shared: dict[str, dict[str, Any]] = {}  # file id -> completeUploadExternal's args
        self._ts = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what tests read ------------------------------------------------------------------

    def record(self, call: Call) -> None:
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()

    def of(self, method: str) -> list[Call]:
        with self.changed:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 20.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"{count} x {method} not seen in {timeout}s; saw {seen}")
                self.changed.wait(left)

    def quiet_for(self, seconds: float) -> None:
        """Let lazy listeners finish: wait until nothing has been called for `seconds`."""
        with self.changed:
            while True:
                last = self.calls[-1].at if self.calls else 0.0
                left = last + seconds - time.monotonic()
                if left <= 0:
                    return
                self.changed.wait(left)

    # -- what tests set up ----------------------------------------------------------------

    def add_file(self, file_id: str, name: str, content: bytes, **extra: Any) -> dict[str, Any]:
        info = {
            "id": file_id,
            "name": name,
            "mimetype": "text/plain",
            "filetype": "text",
            "size": len(content),
            "url_private_download": f"{self.url}/files/{file_id}",
            **extra,
        }
        self.files[file_id] = (info, content)
        return {"id": file_id, "name": name, "file_access": "check_file_info"}

    # -- the Web API ----------------------------------------------------------------------

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if self.failing.get(method, 0) > 0:
            self.failing[method] -= 1
            return {"ok": False, "error": "internal_error"}
        ts = f"1700000000.{next(self._ts):06d}"
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "team_id": TEAM,
                "team": "Fake",
                "user": "ascend-oncall",
                "url": "https://fake.slack.com/",
            }
        if method == "chat.postMessage":
            if args.get("channel") in self.not_in:
                return {"ok": False, "error": "not_in_channel"}
            return {
                "ok": True,
                "channel": args.get("channel"),
                "ts": ts,
                "message": {"text": args.get("text"), "ts": ts},
            }
        if method in ("chat.update", "chat.postEphemeral", "views.open"):
            return {"ok": True, "ts": args.get("ts", ts), "message_ts": ts}
        if method == "conversations.replies":
            key = (str(args.get("channel")), str(args.get("ts")))
            return {"ok": True, "messages": self.threads.get(key, []), "has_more": False}
        if method == "files.info":
            found = self.files.get(str(args.get("file")))
            return (
                {"ok": True, "file": found[0]}
                if found
                else {"ok": False, "error": "file_not_found"}
            )
        if method == "usergroups.users.list":
            group = self.groups.get(str(args.get("usergroup")))
            if group is None:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": group}
        if method == "files.getUploadURLExternal":
            if not args.get("filename") or not str(args.get("length") or "").isdigit():
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F{next(self._ts):06d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = json.loads(args.get("files") or "[]")
            if not files or any(f.get("id") not in self.uploads for f in files):
                return {"ok": False, "error": "file_not_found"}
            for f in files:
                self.shared[f["id"]] = args
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url}
        return {"ok": False, "error": "unknown_method"}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if path.startswith("/upload/"):  # raw bytes, whatever the content type says
                file_id = path.removeprefix("/upload/")
                if fake.failing.get("upload", 0) > 0:  # the upload host away a moment
                    fake.failing["upload"] -= 1
                    self._send(500, b"upload failed")
                    return
                fake.uploads[file_id] = raw
                fake.record(
                    Call("upload", {"file": file_id, "size": len(raw)}, dict(self.headers.items()))
                )
                self._send(200, b"OK - " + str(len(raw)).encode())
                return
            if "json" in (self.headers.get("Content-Type") or ""):
                args = json.loads(raw or b"{}")
            else:
                args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                for key in ("blocks", "view"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
            headers = dict(self.headers.items())
            if path.startswith("/respond/"):
                fake.record(Call("response_url", args, headers))
                self._send(200, b"ok")
                return
            method = path.removeprefix("/api/")
            if fake.rate_limited.get(method, 0) > 0:
                fake.rate_limited[method] -= 1
                fake.record(Call(method + ":429", args, headers))
                self._send(
                    429,
                    b'{"ok":false,"error":"ratelimited"}',
                    {"Retry-After": "1", "Content-Type": "application/json"},
                )
                return
            if (
                method != "apps.connections.open"
                and headers.get("Authorization") != f"Bearer {BOT_TOKEN}"
            ):
                self._send(
                    200,
                    b'{"ok":false,"error":"invalid_auth"}',
                    {"Content-Type": "application/json"},
                )
                return
            answer = fake.answer(method, args)
            fake.record(Call(method, args, headers, response=answer))
            body = json.dumps(answer).encode()
            self._send(200, body, {"Content-Type": "application/json"})

        def do_GET(self) -> None:
            path = urlsplit(self.path)
            if path.path.startswith("/api/"):
                self.do_POST()
                return
            file_id = path.path.removeprefix("/files/")
            headers = dict(self.headers.items())
            fake.record(Call("download", {"file": file_id}, headers))
            if headers.get("Authorization") != f"Bearer {BOT_TOKEN}" or file_id not in fake.files:
                self._send(404, b"not found")
                return
            content = fake.files[file_id][1]
            wanted = headers.get("Range", "")
            if wanted.startswith("bytes=-"):
                tail = content[-int(wanted.removeprefix("bytes=-")) :]
                self._send(
                    206,
                    tail,
                    {
                        "Content-Range": f"bytes {len(content) - len(tail)}-{len(content) - 1}/{len(content)}"
                    },
                )
                return
            self._send(200, content)

    return Handler


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
