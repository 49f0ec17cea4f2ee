"""Package faces and the one-way import rule: bot -> runners -> kb, bot -> kb."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"kb": set(), "runners": {"kb"}, "bot": {"kb", "runners"}}


def imported_packages(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in ALLOWED and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_flow_one_way(package: str) -> None:
    wrong = {k: v for k, v in imported_packages(package).items() if k not in ALLOWED[package]}
    assert not wrong, f"{package} must not import {sorted(wrong)}: {wrong}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_public_face_is_sorted_and_real(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    # isort-style, as ruff keeps it: CONSTANTS, then Classes, then functions.
    kind = lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)  # noqa: E731
    assert names == sorted(names, key=kind)
    for name in names:
        assert hasattr(module, name), f"{package}.{name} is exported but missing"


def test_other_packages_use_only_the_kb_face() -> None:
    """bot and runners import `kb` names from its face, not its private modules."""
    allowed_modules = {"kb"}
    for package in ("bot", "runners"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module
                    and node.module.startswith("kb")
                ):
                    assert node.module in allowed_modules, f"{path}: imports {node.module}"
