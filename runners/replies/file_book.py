"""`ascend-oncall run`'s reply sets (no coordinator, no database): one JSON file under the
runner's work folder, read whole and written whole through a temporary file and a rename,
so an interrupted run never leaves half a file. Bounded like the database: one known-good
set per checkpoint and one latest set per mode and config, at most `MOST_SETS` in all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from runners.errors import RepliesError
from runners.replies.golden import Mode, ReplySet

FILE_NAME = "replies.json"
MOST_SETS = 500  # the oldest go first; a set is a few KiB


class _Filed(BaseModel):
    golden: bool
    replies: ReplySet


class _File(BaseModel):
    sets: list[_Filed] = Field(default_factory=list)


class FileBook:
    """The reply sets of `run` on this host (`runners.replies.golden.ReplyBook`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def under(cls, work_dir: Path) -> FileBook:
        return cls(work_dir / FILE_NAME)

    def _load(self) -> _File:
        try:
            return _File.model_validate_json(self.path.read_bytes())
        except FileNotFoundError:
            return _File()
        except (OSError, ValidationError, ValueError) as exc:
            raise RepliesError(
                f"cannot read {self.path}: {str(exc)[:200]} (move it away to start afresh)"
            ) from exc

    def golden(self, model: str, revision: str) -> ReplySet | None:
        found = [
            f.replies
            for f in self._load().sets
            if f.golden and f.replies.model == model and f.replies.revision == revision
        ]
        return found[-1] if found else None

    def latest(self, model: str, revision: str, mode: Mode, config_key: str) -> ReplySet | None:
        found = [
            f.replies
            for f in self._load().sets
            if not f.golden
            and (f.replies.model, f.replies.revision, f.replies.mode) == (model, revision, mode)
            and f.replies.config_key == config_key
        ]
        return found[-1] if found else None

    def keep(self, replies: ReplySet, golden: bool) -> None:
        book = self._load()
        book.sets = [f for f in book.sets if not _replaced_by(f, replies, golden)]
        book.sets.append(_Filed(golden=False, replies=replies))
        if golden:
            book.sets.append(_Filed(golden=True, replies=replies))
        book.sets = book.sets[-MOST_SETS:]
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(book.model_dump(mode="json")))
            tmp.replace(self.path)
        except OSError as exc:
            raise RepliesError(f"cannot write {self.path}: {exc}") from exc


def _replaced_by(filed: _Filed, new: ReplySet, golden: bool) -> bool:
    old = filed.replies
    if (old.model, old.revision) != (new.model, new.revision):
        return False
    if filed.golden:
        return golden
    return old.mode == new.mode and old.config_key == new.config_key
