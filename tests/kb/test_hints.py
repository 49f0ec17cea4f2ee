import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from kb.errors import RunbookError
from kb.hints import DEFAULT_HINTS, load_hints


def write(tmp_path: Path, hints: Mapping[str, object]) -> Path:
    path = tmp_path / "hints.json"
    path.write_text(json.dumps(hints, indent=2), encoding="utf-8")
    return path


def port_hint(**signature: object) -> dict[str, dict[str, list[object]]]:
    return {
        "port-taken": {
            "signatures": [{"text": "Address already in use", **signature}],
            "examples": [
                {"text": "OSError: [Errno 98] Address already in use", "source": "Python"}
            ],
        }
    }


def test_signature_without_source_is_refused_naming_entry_hint_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, port_hint())
    with pytest.raises(RunbookError) as err:
        load_hints(path)
    [problem] = err.value.problems
    assert "'port-taken'" in problem.message
    assert "'Address already in use'" in problem.message
    assert "source" in problem.message
    # The line the reviewer has to fix, not the top of the file.
    assert path.read_text().splitlines()[problem.line - 1].strip().startswith('"text": "Address')


def test_blank_source_counts_as_none(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="port-taken"):
        load_hints(write(tmp_path, port_hint(source="  ")))


def test_example_in_the_old_plain_string_form_is_refused(tmp_path: Path) -> None:
    hints = port_hint(source="Linux strerror(EADDRINUSE)")
    hints["port-taken"]["examples"] = ["OSError: [Errno 98] Address already in use"]
    path = write(tmp_path, hints)
    with pytest.raises(RunbookError) as err:
        load_hints(path)
    [problem] = err.value.problems
    assert "'port-taken'" in problem.message and "example" in problem.message
    assert path.read_text().splitlines()[problem.line - 1].strip().startswith('"OSError')
    assert '{"text": ..., "source": ...}' in problem.message


def test_every_line_without_source_is_reported_at_once(tmp_path: Path) -> None:
    hints = {
        "port-taken": {
            "signatures": [{"text": "Errno 98"}],
            "against": [{"text": "@long-capture"}],
        },
        "disk-full": {"examples": [{"text": "No space left on device"}]},
    }
    with pytest.raises(RunbookError) as err:
        load_hints(write(tmp_path, hints))
    named = sorted(p.message.split(":")[0] for p in err.value.problems)
    assert named == ["hint for 'disk-full'", "hint for 'port-taken'", "hint for 'port-taken'"]


def test_sourced_hints_load_in_the_shape_the_engine_reads(tmp_path: Path) -> None:
    hints = port_hint(source="Linux strerror(EADDRINUSE)", weight=0.8)
    hints["port-taken"]["against"] = [{"text": "@died-after-serving", "source": "@fact"}]
    hint = load_hints(write(tmp_path, hints))["port-taken"]
    assert [s.text for s in hint.signatures] == ["Address already in use"]
    assert hint.signatures[0].weight == 0.8
    assert hint.examples == ("OSError: [Errno 98] Address already in use",)
    assert hint.against == frozenset({"@died-after-serving"})
    assert {(p.part, p.source) for p in hint.provenance} == {
        ("signature", "Linux strerror(EADDRINUSE)"),
        ("against", "@fact"),
        ("example", "Python"),
    }


def test_correcting_a_source_does_not_change_what_the_index_is_built_from(tmp_path: Path) -> None:
    first = load_hints(write(tmp_path, port_hint(source="runbook")))
    second = load_hints(write(tmp_path, port_hint(source="Linux strerror(EADDRINUSE)")))
    # The index cache is keyed by repr(hint): a provenance fix must not force a rebuild.
    assert repr(first) == repr(second)


def test_shipped_hints_load_and_every_line_says_where_it_comes_from() -> None:
    shipped = load_hints(DEFAULT_HINTS)
    assert shipped
    raw = json.loads(DEFAULT_HINTS.read_text(encoding="utf-8"))
    for entry_id, hint in shipped.items():
        lines = len(hint.signatures) + len(hint.against) + len(hint.examples)
        assert len(hint.provenance) == lines, entry_id
        assert all(p.source.strip() for p in hint.provenance), entry_id
        assert all(isinstance(x, str) for x in hint.examples), entry_id
        # Nothing in the file is dropped on the way in.
        assert len(raw[entry_id].get("examples", [])) == len(hint.examples), entry_id
