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


# Who may import which face: bot imports runners and kb, runners imports kb.
FACES_USED = {"bot": ("runners", "kb"), "runners": ("kb",)}


def names_taken_from(folder: Path, face: str) -> dict[str, set[str]]:
    """`name -> files` for each name the code in `folder` takes from `face`: `from face
    import name`, and `face.name` after `import face` (type-checking imports count too)."""
    taken: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        where = str(path.relative_to(folder.parent))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == face and node.level == 0:
                for alias in node.names:
                    taken.setdefault(alias.name, set()).add(where)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == face
            ):
                taken.setdefault(node.attr, set()).add(where)
    return taken


@pytest.mark.parametrize(
    ("package", "face"), [(p, f) for p, faces in FACES_USED.items() for f in faces]
)
def test_names_taken_from_a_face_are_in_its_all(package: str, face: str) -> None:
    """A face's `__all__` is the whole of what others may use: a name not in it (a private
    module such as `runners.store.database`, a helper left out) is not the face's to give."""
    outside = names_outside_the_face(ROOT / package, face)
    assert not outside, f"{package} takes names from {face} outside its __all__: {outside}"


def names_outside_the_face(folder: Path, face: str) -> dict[str, list[str]]:
    exported = set(importlib.import_module(face).__all__)
    taken = names_taken_from(folder, face)
    return {name: sorted(files) for name, files in taken.items() if name not in exported}


def test_the_face_check_finds_a_module_or_a_private_name_taken_through_a_face(
    tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "store.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import kb\n"
        "from runners import JobStore, database\n"  # a module of runners, not its face
        "if TYPE_CHECKING:\n    from runners import _LAZY\n"
        "print(kb.parse, kb.retrieval)\n"
    )
    assert names_outside_the_face(package, "runners") == {
        "database": ["pkg/store.py"], "_LAZY": ["pkg/store.py"],
    }  # fmt: skip
    assert names_outside_the_face(package, "kb") == {"retrieval": ["pkg/store.py"]}


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path: Path, known: set[str]) -> set[str]:
    """Modules of `known` that `path` imports, at any depth, outside TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
        for n in ast.walk(node)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names} & known
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names}
            # `from runners import server` imports the module, not (only) the package face
            found |= (subs if subs <= known else {node.module} | subs) & known
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_has_an_import_cycle(package: str) -> None:
    files = {
        _module_of(p): p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts
    }
    graph = {m: _imports_of(p, set(files)) - {m} for m, p in files.items()}

    def reaches(start: str, goal: str) -> list[str] | None:
        stack, seen = [(start, [start])], {start}
        while stack:
            node, route = stack.pop()
            for nxt in graph[node]:
                if nxt == goal:
                    return [*route, goal]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*route, nxt]))
        return None

    cycles = [route for m in graph if (route := reaches(m, m))]
    assert not cycles, f"import cycles: {cycles[0]}"


def test_bot_uses_only_the_runners_face_and_runners_know_no_slack() -> None:
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("runners."), f"{path}: {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("runners.") for a in node.names), path
    for path in (ROOT / "runners").rglob("*.py"):
        assert "<@" not in path.read_text(), f"{path}: Slack markup is the bot's to write"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] in {"slack_bolt", "slack_sdk"} for n in names), path


# Chat words an agent on an Ascend host has no use for. runners/store/migrations is exempt: it
# is the schema's history, and the step that took these columns out has to name them.
SLACK_WORDS = (
    "slack", "channel", "thread_ts", "message_ts", "team_id", "notified_version",
    "shown_status", "mrkdwn", "<@", "<#",
)  # fmt: skip
# Where a Slack word is the host's own business, not chat: secrets to keep out of logs.
SLACK_MENTIONS_ALLOWED = {
    ("runners/redact.py", "slack"): "Slack tokens and webhooks in a server log are masked",
    (
        "runners/run/vllm_process.py",
        "slack",
    ): "SLACK_ variables are kept from vllm serve's environment",
}


def slack_words_in(package: Path) -> list[str]:
    """`path:line: word` for every Slack word in the package's source outside migrations."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.relative_to(package).parts:
            continue
        name = str(path.relative_to(ROOT))
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for word in SLACK_WORDS:
                if word in line.lower() and (name, word) not in SLACK_MENTIONS_ALLOWED:
                    found.append(f"{name}:{number}: {word}")
    return found


def test_runners_source_speaks_no_slack() -> None:
    """Where a job's thread is and what it showed is the bot's (bot/slack/threads.py): a
    runner job keeps only an opaque `origin`."""
    found = slack_words_in(ROOT / "runners")
    assert not found, "Slack words in runners/:\n" + "\n".join(found)


def test_bot_reads_top_down() -> None:
    """bot/ reads cli -> service -> slack -> render -> core: a renderer draws what the core
    made (Block Kit's mrkdwn helpers are render's own, bot/render/mrkdwn.py), and the core
    knows no front end."""
    fronts = ("bot.cli", "bot.service", "bot.slack")
    below = {"render": fronts, "core": (*fronts, "bot.render")}
    for folder, banned in below.items():
        for path in (ROOT / "bot" / folder).rglob("*.py"):
            imported = {m for m in _imports_of(path, _bot_modules()) if m.startswith(banned)}
            assert not imported, f"{path.relative_to(ROOT)} imports {sorted(imported)}"


def _bot_modules() -> set[str]:
    return {_module_of(p) for p in (ROOT / "bot").rglob("*.py")}


def test_every_bot_module_sits_in_a_folder_that_says_what_it_is() -> None:
    top = {p.name for p in (ROOT / "bot").glob("*.py")}
    # The package face and what every part shares; the rest is cli/, core/, render/, slack/.
    assert top <= {"__init__.py", "errors.py", "logs.py", "metrics.py", "service.py", "settings.py"}


# runners/ in layers: the modules at its top (errors, states, redact) are the shared words
# and import no folder; each folder imports only the folders listed for it. The agent's side
# (agent -> run -> spec, doctor) never reaches the store, so a host needs no SQLAlchemy.
RUNNERS_FOLDERS = {
    "spec": set(),
    "doctor": set(),
    "run": {"spec", "doctor"},
    "replies": {"run", "spec"},
    "autopilot": {"replies", "run", "spec", "doctor"},
    "agent": {"run", "spec", "doctor"},
    "store": {"replies", "run", "spec"},
    "coordinator.py": {"store", "replies", "run", "spec"},
}


def _runners_folder(module: str) -> str | None:
    """The folder of runners/ a module sits in (`coordinator.py` for the API's module),
    None for the shared modules at runners' top and for the face."""
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in {"errors", "states", "redact"}:
        return None
    return "coordinator.py" if parts[1] == "coordinator" else parts[1]


def test_runners_reads_in_layers() -> None:
    known = {_module_of(p) for p in (ROOT / "runners").rglob("*.py") if "migrations" not in p.parts}
    assert set(RUNNERS_FOLDERS) == {f for m in known if (f := _runners_folder(m))}, (
        "a folder of runners/ is missing from RUNNERS_FOLDERS"
    )
    wrong = []
    for path in (ROOT / "runners").rglob("*.py"):
        module = _module_of(path)
        if module == "runners" or "migrations" in path.parts:
            continue
        mine = _runners_folder(module)
        allowed = RUNNERS_FOLDERS.get(mine, set()) if mine else set()
        for target in _imports_of(path, known):
            theirs = _runners_folder(target)
            if theirs and theirs != mine and theirs not in allowed:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not wrong, "runners/ imports against its layers:\n" + "\n".join(sorted(wrong))
