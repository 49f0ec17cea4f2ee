"""Every runbook entry the doctor can name is an entry of the shipped runbook."""

from __future__ import annotations

import ast
from pathlib import Path

from kb import parse
from runners.doctor import ENTRY_IDS, entries

DOCTOR = Path(entries.__file__).parent


def test_every_entry_id_the_doctor_can_emit_is_in_the_default_runbook() -> None:
    shipped = {e.id for e in parse()}
    assert shipped >= ENTRY_IDS, sorted(ENTRY_IDS - shipped)


def test_findings_name_entries_only_through_the_constants() -> None:
    """A literal id typed into a check would escape the test above."""
    constants = {
        node.targets[0].id  # type: ignore[attr-defined]
        for node in ast.parse(Path(entries.__file__).read_text()).body
        if isinstance(node, ast.Assign) and node.targets[0].id != "ENTRY_IDS"  # type: ignore[attr-defined]
    }
    assert {getattr(entries, c) for c in constants} == ENTRY_IDS
    for path in DOCTOR.glob("*.py"):
        if path.name == "entries.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "entry_id":
                assert not isinstance(node.value, ast.Constant) or node.value.value is None, (
                    f"{path.name}:{node.lineno}: use runners.doctor.entries"
                )
