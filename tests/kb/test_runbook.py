from pathlib import Path

import pytest

from kb import DEFAULT_RUNBOOK, RunbookError, check, parse, slugify
from kb.signatures import Kind

SHARED_TITLES = [
    line[3:].strip() for line in DEFAULT_RUNBOOK.read_text().splitlines() if line.startswith("## ")
]


def write(tmp_path: Path, text: str, name: str = "rb.md") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_runbook_parses_into_every_section_with_exact_titles() -> None:
    entries = parse()
    assert [e.title for e in entries] == SHARED_TITLES
    assert len(entries) == 17
    assert all(e.symptoms and e.actions for e in entries)


def test_ids_are_stable_slugs_of_titles() -> None:
    ids = {e.id for e in parse()}
    assert "acl-graph-capture-fails-507903" in ids
    assert "direct-run-doesnt-pick-your-code-changes" in ids
    assert slugify("Server fails to bind on `:8000` or fails with HCCL bind errors") == (
        "server-fails-to-bind-on-8000-or-fails-with-hccl-bind-errors"
    )
    assert slugify("Café crash") != slugify("Cafè crash")
    assert slugify("显存不足 OOM") == "显存不足-oom"


def test_actions_keep_inline_and_fenced_code() -> None:
    first = parse()[0]
    assert first.actions[0].startswith("Check runtime import path:")
    assert "```bash" in first.actions[0] and "print(vllm.__file__)" in first.actions[0]
    acl = next(e for e in parse() if e.id == "acl-graph-capture-fails-507903")
    assert acl.actions[0] == "Prefer `HCCL_OP_EXPANSION_MODE=AIV` for graph capture stability."


def test_signatures_are_derived_from_codes_literals_exceptions_flags_and_env() -> None:
    by_id = {e.id: {s.text: s for s in e.signatures} for e in parse()}
    acl = by_id["acl-graph-capture-fails-507903"]
    assert acl["507903"].kind is Kind.CODE
    assert acl["AclmdlRICaptureEnd ... 507903"].fragments == ("aclmdlricaptureend", "507903")
    # Actions name remedies users already run with; they are no evidence of a failure.
    assert "--enforce-eager" not in acl and "HCCL_OP_EXPANSION_MODE=AIV" not in acl
    bind = by_id["server-fails-to-bind-on-8000-or-fails-with-hccl-bind-errors"]
    assert bind["EJ0003"].kind is Kind.CODE
    vl = by_id["vl-torchdynamo-interpolate-contiguous-failure"]
    assert vl["torch._dynamo.exc.TorchRuntimeError"].kind is Kind.EXCEPTION
    # A builtin exception name says little; a runbook-specific one says more.
    arch = by_id["architecture-not-recognized"]
    assert arch["ValueError"].weight < vl["torch._dynamo.exc.TorchRuntimeError"].weight


def test_section_without_symptoms_or_actions_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "# Runbook\n\n## Good one\n\nSymptoms:\n\n- a\n\nActions:\n\n1. b\n\n"
        "## No actions\n\nSymptoms:\n\n- c\n\n## No symptoms\n\nActions:\n\n1. d\n",
    )
    entries, problems = check([path])
    assert [e.id for e in entries] == ["good-one", "no-actions", "no-symptoms"]
    assert [(p.line, "Actions" in p.message) for p in problems] == [(13, True), (19, False)]
    assert all(p.path == str(path) for p in problems)
    with pytest.raises(RunbookError, match=rf"{path}:13: section 'No actions' has no 'Actions:'"):
        parse([path])


def test_duplicate_titles_and_stray_text_are_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "## Same\nSymptoms:\n- a\nActions:\n1. b\n## Same\nSymptoms:\n- a\nActions:\n1. b\n"
        "## Other\nsome prose here\nSymptoms:\n- a\nActions:\n* not numbered\n",
    )
    _, problems = check([path])
    messages = [f"{p.line}: {p.message}" for p in problems]
    assert any(m.startswith("6: duplicate title 'Same' (first at") for m in messages)
    assert any(m.startswith("12: text before 'Symptoms:'") for m in messages)
    assert any(m.startswith("16: expected a numbered item") for m in messages)


def test_unclosed_code_fence_and_empty_file(tmp_path: Path) -> None:
    fence = write(tmp_path, "## A\nSymptoms:\n- a\nActions:\n1. run\n   ```bash\n   ls\n", "f.md")
    empty = write(tmp_path, "", "e.md")
    _, problems = check([fence, empty])
    assert [(Path(p.path).name, p.line) for p in problems] == [("f.md", 6), ("e.md", 1)]


def test_not_utf8_and_missing_paths_are_problems_not_crashes(tmp_path: Path) -> None:
    binary = tmp_path / "b.md"
    binary.write_bytes(b"## A\n\xff\xfe\x00\x01")
    _, problems = check([binary, tmp_path / "missing.md"])
    assert "not UTF-8" in problems[0].message
    assert "no such runbook" in problems[1].message


def test_a_folder_of_runbooks_adds_entries_and_cross_file_duplicates_are_caught(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "team"
    folder.mkdir()
    write(
        folder,
        "## NPU out of memory\nSymptoms:\n- `NPU out of memory`\nActions:\n1. lower\n",
        "a.md",
    )
    write(folder, "## ACL graph capture fails (507903)\nSymptoms:\n- x\nActions:\n1. y\n", "b.md")
    entries, problems = check([DEFAULT_RUNBOOK, folder])
    assert "npu-out-of-memory" in {e.id for e in entries}
    assert len(problems) == 1 and "duplicate title" in problems[0].message
    assert problems[0].path.endswith("b.md")


def test_content_hash_changes_with_the_section_only(tmp_path: Path) -> None:
    text = "## A\nSymptoms:\n- a\nActions:\n1. b\n## B\nSymptoms:\n- c\nActions:\n1. d\n"
    before = {e.id: e.content_hash for e in parse([write(tmp_path, text)])}
    after = {e.id: e.content_hash for e in parse([write(tmp_path, text.replace("1. d", "1. e"))])}
    assert before["a"] == after["a"] and before["b"] != after["b"]


def test_inline_code_is_classified_by_what_it_is() -> None:
    from kb.signatures import derive_signatures

    sigs = {
        s.text: s.kind
        for s in derive_signatures(
            "T", ["`--enforce-eager` `HCCL_OP_EXPANSION_MODE` `561002` `EJ0003` `x ... y`"]
        )
    }
    assert sigs == {
        "--enforce-eager": Kind.FLAG,
        "HCCL_OP_EXPANSION_MODE": Kind.ENV,
        "561002": Kind.CODE,
        "EJ0003": Kind.CODE,
        "x ... y": Kind.LITERAL,
    }


def test_a_signature_matches_where_a_word_starts_not_inside_another_identifier() -> None:
    from kb.signatures import Origin, make

    k_norm = make("k_norm", Kind.LITERAL, Origin.HINT)
    assert k_norm.find("key_states = self.k_norm(self.k_proj(x))")
    assert not k_norm.find("'fuse_qk_norm_rope_kvcache': false")  # an engine config dump
    fp8 = make("float8_e4m3fn", Kind.LITERAL, Origin.HINT)
    assert fp8.find("tensor mat2 not implemented for dt_float8_e4m3fn")  # `_` joins words
