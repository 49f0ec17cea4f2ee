"""The chat-neutral core: what every command does, returning values from `bot.core.answers`.

Slack and the console both call these methods; neither holds logic of its own. Learned
examples live in the store, so a correction made in one replica (or the console) is used by
every other on its next triage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from bot.core import wording
from bot.core.answers import EntryRef, Notice, RunbookAnswer, TriageAnswer
from bot.core.store import DIGEST_CHARS, Store
from bot.errors import StoreError
from bot.metrics import ANSWERS, FEEDBACK, TRIAGE_SECONDS
from kb import Example, InputError, KBError, Triager, models_in_log
from runners import RunResult, RunTriage, SpecError, check_model

log = logging.getLogger("ascend_oncall")

TriagerFactory = Callable[[tuple[Example, ...]], Triager]

_RUNBOOK_TOP = 3


def digest(text: str, signature: str | None, evidence: Sequence[str]) -> str:
    """What a learned example keeps: the cause and the lines that proved it, not the log."""
    lines = [signature] if signature else []
    lines += [e for e in evidence if e != signature]
    kept = "\n".join(lines) if lines else text.strip()
    return kept[:DIGEST_CHARS]


class Oncall:
    """The commands over one triager. With `background`, the triager (the index and the
    embedding model: seconds) is made in a thread of its own, so a bot can take Slack's
    requests and ack them at once; what needs the triager waits for it."""

    def __init__(
        self, make_triager: TriagerFactory, store: Store, background: bool = False
    ) -> None:
        self._make = make_triager
        self.store = store
        self._lock = threading.Lock()
        self._version = store.examples_version()
        self._loaded = threading.Event()
        self._failed: KBError | None = None
        self._made: Triager | None = None
        if background:
            threading.Thread(target=self._load, name="triager", daemon=True).start()
        else:
            self._load()
            if self._failed is not None:
                raise self._failed

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self._made = self._make(self._examples())
            log.info("runbook index and model ready in %.1f s", time.perf_counter() - started)
        except KBError as exc:
            self._failed = exc
            log.error("the triager could not be made: %s", exc)
        except Exception as exc:  # a bug or a broken model file: say it, never hang a caller
            self._failed = KBError(f"the triager could not be made: {type(exc).__name__}: {exc}")
            log.exception("the triager could not be made")
        finally:
            self._loaded.set()

    @property
    def loading(self) -> bool:
        return not self._loaded.is_set()

    @property
    def failed(self) -> KBError | None:
        return self._failed

    @property
    def _triager(self) -> Triager:
        self._loaded.wait()
        if self._made is None:
            raise self._failed or KBError("the triager is not there")
        return self._made

    @property
    def triager(self) -> Triager:
        self._refresh()
        return self._triager

    def entries(self) -> tuple[EntryRef, ...]:
        return tuple(EntryRef(e.id, e.title) for e in self._triager.index.entries)

    def triage(
        self,
        text: str | bytes,
        *,
        source: str,
        asked_by: str | None = None,
        team_id: str | None = None,
        channel_id: str | None = None,
        thread_ts: str | None = None,
        notes: tuple[str, ...] = (),
    ) -> TriageAnswer | Notice:
        started = time.perf_counter()
        try:
            result = self.triager.triage(text)
        except InputError as exc:
            return Notice(wording.CANNOT_READ.format(reason=exc), problem=True)
        except KBError as exc:  # the index could not be made: say so, every time
            return Notice(wording.NO_TRIAGER.format(reason=exc), problem=True)
        TRIAGE_SECONDS.observe(time.perf_counter() - started)
        ANSWERS.labels(verdict=result.verdict, source=source).inc()
        top = result.matches[0] if result.matches else None
        named = top if result.verdict in ("match", "likely") else None  # "Helpful" confirms it
        evidence = top.evidence if top and result.verdict == "match" else ()
        plain = text if isinstance(text, str) else text.decode("utf-8", "replace")
        answer_id = self.store.add_answer(
            source=source,
            verdict=result.verdict,
            top_entry_id=named.entry_id if named else None,
            signature=result.signature,
            digest=digest(plain[: DIGEST_CHARS * 4], result.signature, evidence),
            team_id=team_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            asked_by=asked_by,
        )
        return TriageAnswer(result, answer_id, asked_by, notes, model_in_log(plain))

    def runbook(self, words: str) -> RunbookAnswer:
        entries = self.entries()
        if not words.strip():
            return RunbookAnswer("", (), entries)
        found = self.triager.search(words, top=_RUNBOOK_TOP)
        return RunbookAnswer(words.strip(), tuple(found), entries)

    def triage_run(self, result: RunResult, job_id: int | None = None) -> RunTriage | None:
        """The runbook's answer for a run's first error: the one the run brought (the
        doctor's, or its agent's), else read here. None when the run has no first error,
        or the triage failed: a verdict without a runbook match beats no verdict."""
        if result.triage is not None or result.first_error is None:
            return result.triage
        try:
            return result.triaged(self.triager.triage)
        except Exception:  # the index away, a bug: logged, and the verdict goes on
            log.exception("triage of job %s failed", job_id if job_id is not None else "?")
            return None

    def looks_like_error(self, text: str) -> bool:
        try:
            return self.triager.looks_like_error(text)
        except KBError:
            return False  # nothing to answer with: not worth a reply unasked

    def feedback(self, answer_id: int, user: str, vote: str, entry_id: str | None = None) -> Notice:
        """Store a vote; "helpful" confirms the answer's entry, "not_this" names another."""
        answer = self.store.answer(answer_id)
        if answer is None:
            return Notice(wording.UNKNOWN_ANSWER, problem=True)
        titles = {e.id: e.title for e in self.entries()}
        if vote == "helpful":
            entry_id = answer.top_entry_id
        elif entry_id is not None and entry_id not in titles:
            return Notice(f"There is no entry `{entry_id}` in the runbook.", problem=True)
        try:
            self.store.record_feedback(answer_id, user, vote, entry_id)
        except StoreError as exc:
            return Notice(str(exc), problem=True)
        FEEDBACK.labels(vote=vote).inc()
        if vote == "helpful":
            return Notice(wording.THANKS_HELPFUL)
        if entry_id is None:
            return Notice(wording.THANKS_NONE)
        self._refresh()
        return Notice(wording.THANKS_LEARNED.format(title=titles[entry_id]))

    def _examples(self) -> tuple[Example, ...]:
        return tuple(Example(e.entry_id, e.text, e.signature) for e in self.store.examples())

    def _refresh(self) -> None:
        """Rebuild the index when learned examples changed (here or in another replica)."""
        if self.store.examples_version() == self._version:
            return
        with self._lock:
            version = self.store.examples_version()  # again: another thread may have rebuilt
            if version == self._version:
                return
            known = {e.id for e in self._triager.index.entries}
            examples = tuple(e for e in self._examples() if e.entry_id in known)
            try:
                self._made = self._make(examples)
            except KBError as exc:  # e.g. the runbook on disk was broken mid-edit: keep serving
                log.warning("kept the current index; rebuilding it failed: %s", exc)
            self._version = version


def model_in_log(text: str) -> str | None:
    """The first model a pasted log was serving that a runner job may name, if any."""
    for name in models_in_log(text):
        try:
            return check_model(name, ["/"], resolve=False)
        except SpecError:
            continue
    return None
