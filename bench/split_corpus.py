"""Split collected real logs into `tune` and `heldout` by source thread, never by row.

    python bench/split_corpus.py tests/data/real/incoming/*.jsonl --out tests/data/real

Every row of one thread (or one recipe) lands in the same split, chosen by a hash of the
thread's address, so adding rows later never moves a thread between splits. `tune` (about
two fifths) is what hints and calibration may look at; `heldout` is scored, never read.
A thread that a hint in kb/data/hints.json cites as its source goes to `tune`: the hint was
shaped by it. The output files' own rows are split again with the new ones (same rule).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

TUNE_SHARE = 2  # of every 5 threads
HINTS = Path(__file__).resolve().parents[1] / "kb" / "data" / "hints.json"
_THREAD = re.compile(r"^(https?://[^#?]+?)(?:/)?(?:[#?].*)?$")
_RECIPE = re.compile(r"/vllm-corpus-[^/\s]+/([\w.-]+)/")
_URL = re.compile(r"https?://[^\s,;)\]\"']+")


def thread_of(source: str) -> str:
    """The thread a row came from: its URL without anchor or query; a recipe's name."""
    source = source.strip()
    if source.startswith("recipe:"):  # one recipe is one thread: its name, not its temp dir
        named = _RECIPE.search(source)
        return f"recipe:{named.group(1)}" if named else source
    m = _THREAD.match(source)
    return m.group(1).lower() if m else source.lower()


def cited_threads(hints: Path = HINTS) -> set[str]:
    """Threads the hints name as where a hint line comes from."""
    return {thread_of(url.rstrip(".")) for url in _URL.findall(hints.read_text())}


def split_of(source: str, cited: set[str]) -> str:
    thread = thread_of(source)
    if thread in cited:
        return "tune"
    digest = hashlib.sha256(thread.encode()).digest()
    return "tune" if digest[0] % 5 < TUNE_SHARE else "heldout"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("inputs", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    kept: dict[str, list[str]] = {"tune": [], "heldout": []}
    seen: set[str] = set()
    cited = cited_threads()
    existing = [args.out / f"{name}.jsonl" for name in kept]
    for path in [p for p in existing if p.exists()] + list(args.inputs):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            row.pop("split", None)
            kept[split_of(row["source"], cited)].append(json.dumps(row, ensure_ascii=False))
    for name, rows in kept.items():
        (args.out / f"{name}.jsonl").write_text("".join(r + "\n" for r in rows))
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
