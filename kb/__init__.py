"""Runbook knowledge base: parse runbooks, read logs, triage pastes, search entries.

Three verbs over frozen values: `parse` (runbook -> entries), `load` (config -> a
`Triager` over a cached hybrid index), and the triager's `triage` / `search`.
"""

from __future__ import annotations

from pathlib import Path

from kb.config import KBConfig, default_cache_dir
from kb.embedding import BatchingEmbedder, Embedder, HashEmbedder, SentenceTransformerEmbedder
from kb.errors import InputError, KBError, ModelNotFoundError, Problem, RunbookError
from kb.evaluate import HELD_OUT, Case, Report, evaluate, load_cases, resolve
from kb.hints import load_hints
from kb.index import Example, Index, build
from kb.logtext import normalise
from kb.ranking import Calibration
from kb.reading import models_in_log, root_cause
from kb.runbook import DEFAULT_RUNBOOK, Entry, check, parse, slugify
from kb.triage import Match, Triage, Triager

BACKGROUND_LOG = Path(__file__).parent / "data" / "healthy.log"


def load(
    config: KBConfig,
    embedder: Embedder | None = None,
    examples: tuple[Example, ...] = (),
    calibration: Calibration | None = None,
) -> Triager:
    """Parse the configured runbooks and return a triager over their (cached) index."""
    entries = parse(config.runbooks)
    background = [line.text for line in normalise(BACKGROUND_LOG.read_text()).lines]
    index = build(
        entries,
        embedder or SentenceTransformerEmbedder(config.model_path, config.model_setting),
        hints=load_hints(config.hints),
        examples=examples,
        cache_dir=config.cache_dir,
        background=background,
    )
    return Triager(index, calibration, max_input_bytes=config.max_input_bytes, top=config.top)


__all__ = [
    "BACKGROUND_LOG",
    "DEFAULT_RUNBOOK",
    "HELD_OUT",
    "BatchingEmbedder",
    "Calibration",
    "Case",
    "Embedder",
    "Entry",
    "Example",
    "HashEmbedder",
    "Index",
    "InputError",
    "KBConfig",
    "KBError",
    "Match",
    "ModelNotFoundError",
    "Problem",
    "Report",
    "RunbookError",
    "SentenceTransformerEmbedder",
    "Triage",
    "Triager",
    "check",
    "default_cache_dir",
    "evaluate",
    "load",
    "load_cases",
    "models_in_log",
    "parse",
    "resolve",
    "root_cause",
    "slugify",
]
