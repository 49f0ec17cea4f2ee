"""Learned examples: a user's correction makes its root-cause line a signature of the entry."""

from __future__ import annotations

from pathlib import Path

from kb import Example, KBConfig, Triager, load
from kb.signatures import learned

ROOT = Path(__file__).parents[2]
BIND = "server-fails-to-bind-on-8000-or-fails-with-hccl-bind-errors"
STUCK = "startup-appears-stuck-in-graph-mode"
HCCL_LINE = "RuntimeError: HCCL function error: HcclAllReduce(...), error code is 9"


def test_numbers_and_addresses_are_left_out_of_a_learned_signature() -> None:
    sig = learned("RuntimeError: NPU out of memory. Tried to allocate 2.00 GiB (NPU 0)")
    assert sig is not None
    assert sig.fragments == ("runtimeerror: npu out of memory. tried to allocate", "gib (npu")
    assert sig.find("runtimeerror: npu out of memory. tried to allocate 9.75 gib (npu 7)")
    assert learned("Killed") is None  # too short to tie anything to an entry
    assert learned("0x7f 12 34") is None
    assert learned("AssertionError") is None  # a class alone says which kind, not which failure
    assert learned("KeyError: 12") is None


def test_ascend_codes_stay_in_a_learned_signature() -> None:
    sig = learned("RuntimeError: ACL stream synchronize failed, error code:507903")
    assert sig is not None and not sig.find(
        "runtimeerror: acl stream synchronize failed, error code:561002"
    )
    bind = learned("EJ0003: Failed to bind the IP port 60000")
    assert bind is not None and bind.fragments[0].startswith("ej0003")


def test_a_correction_turns_no_match_into_the_chosen_entry(
    cache_dir: Path, triager: Triager
) -> None:
    log = (ROOT / "examples" / "hccl-timeout.log").read_text()
    assert triager.triage(log).verdict == "no_match"
    taught = load(
        KBConfig(cache_dir=cache_dir),
        triager.index.embedder,
        examples=(Example(BIND, HCCL_LINE, HCCL_LINE),),
    )
    other_rank = log.replace("rank3", "rank1").replace("4410", "5120")
    result = taught.triage(other_rank)
    assert result.verdict == "match" and result.matches[0].entry_id == BIND
    # Other failures are not pulled towards the taught entry.
    fia = taught.triage("RuntimeError: call aclnnFusedInferAttentionScore failed")
    assert fia.matches[0].entry_id == "mla-attention-runtime-failures-after-ready"


def test_the_latest_correction_of_a_line_wins(cache_dir: Path, triager: Triager) -> None:
    examples = (Example(BIND, HCCL_LINE, HCCL_LINE), Example(STUCK, HCCL_LINE, HCCL_LINE))
    taught = load(KBConfig(cache_dir=cache_dir), triager.index.embedder, examples=examples)
    assert taught.triage(HCCL_LINE).matches[0].entry_id == STUCK


def test_a_correction_without_a_root_cause_line_teaches_no_signature(
    cache_dir: Path, triager: Triager
) -> None:
    prose = "Traceback (most recent call last):"
    taught = load(
        KBConfig(cache_dir=cache_dir),
        triager.index.embedder,
        examples=(Example(BIND, prose, None),),
    )
    assert (
        taught.triage("Traceback (most recent call last):\nKeyError: 'model_type'").verdict
        == "no_match"
    )
