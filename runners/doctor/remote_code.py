"""The model's own Python (`auto_map` in config.json): which files it needs, and what they
import from `transformers` and other packages, read with `ast`. Nothing here runs it.

Imports guarded by `try: ... except ImportError` or under `if TYPE_CHECKING:` are left out:
the code already copes without them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from runners.doctor.checkpoint import Missing, ModelFolder, Unreadable

SOURCE_MAX = 2 << 20
MODULES_MAX = 64
IMPORTS_MAX = 500
_GUARDS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class Import:
    """`from module import name` (name "" for `import module`) at file:line."""

    file: str
    line: int
    module: str
    name: str = ""

    def where(self) -> str:
        what = f"from {self.module} import {self.name}" if self.name else f"import {self.module}"
        return f"{self.file}:{self.line}: {what}"


@dataclass(frozen=True)
class RemoteCode:
    files: tuple[str, ...] = ()  # module files read
    problems: tuple[str, ...] = ()  # files named but missing, unreadable or not Python
    transformers: tuple[Import, ...] = ()
    packages: tuple[Import, ...] = ()  # other absolute imports (top-level package checked)
    elsewhere: tuple[str, ...] = ()  # auto_map entries whose code is in another repository


def auto_map_modules(auto_map: Any) -> tuple[list[str], list[str]]:
    """(local module names, entries from another repository) of an `auto_map` value."""
    local: list[str] = []
    elsewhere: list[str] = []
    if not isinstance(auto_map, dict):
        return local, elsewhere
    for value in auto_map.values():
        for ref in value if isinstance(value, list) else [value]:
            if not isinstance(ref, str) or "." not in ref:
                continue
            if "--" in ref:  # "org/repo--modeling_x.Class": fetched from that repository
                elsewhere.append(ref[:200])
                continue
            module = ref.rsplit(".", 1)[0]
            if module not in local:
                local.append(module)
    return local, elsewhere


def imports_of(source: str, file: str) -> tuple[list[str], list[Import], list[Import]]:
    """(local modules it imports, transformers imports, other imports) of one file.
    SyntaxError / ValueError / RecursionError for source that is not Python."""
    tree = ast.parse(source, filename=file)
    guarded = _guarded(tree)
    local: list[str] = []
    transformers: list[Import] = []
    others: list[Import] = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level > 0:  # `from .configuration_x import C`, `from . import utils`
                if node.module:
                    local.append(node.module)
                else:
                    local += [a.name for a in node.names]
                continue
            module = node.module or ""
            found = [Import(file, node.lineno, module, a.name) for a in node.names if a.name != "*"]
            (transformers if _is_transformers(module) else others).extend(found)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found_one = Import(file, node.lineno, alias.name)
                (transformers if _is_transformers(alias.name) else others).append(found_one)
    return local, transformers, others


def _is_transformers(module: str) -> bool:
    return module == "transformers" or module.startswith("transformers.")


def _guarded(tree: ast.AST) -> set[int]:
    """Ids of nodes inside `try` bodies that catch an import failure, or TYPE_CHECKING ifs."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        guards_import = isinstance(node, ast.Try) and any(map(_catches_import, node.handlers))
        type_only = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)
        for stmt in node.body if guards_import or type_only else []:  # type: ignore[attr-defined]
            inside |= {id(n) for n in ast.walk(stmt)}
    return inside


def _catches_import(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in _GUARDS for k in kinds)


def read_remote_code(folder: ModelFolder, auto_map: Any) -> RemoteCode:
    """Follow `auto_map` and the files' relative imports through the model folder."""
    queue, elsewhere = auto_map_modules(auto_map)
    files: list[str] = []
    problems: list[str] = []
    transformers: list[Import] = []
    packages: list[Import] = []
    seen: set[str] = set()
    while queue and len(seen) < MODULES_MAX:
        module = queue.pop(0)
        if module in seen:
            continue
        seen.add(module)
        file = module.replace(".", "/") + ".py"
        try:
            source = folder.read(file, SOURCE_MAX).decode("utf-8")
            local, found, others = imports_of(source, file)
        except Missing:
            problems.append(f"{file} is missing (the model's code names module `{module}`)")
            continue
        except Unreadable as exc:
            problems.append(str(exc))
            continue
        except (SyntaxError, ValueError, RecursionError) as exc:  # UnicodeDecodeError too
            problems.append(f"{file} is not valid Python: {str(exc)[:200]}")
            continue
        files.append(file)
        queue += [m for m in local if m not in seen]
        transformers += found
        packages += others
    return RemoteCode(
        files=tuple(files),
        problems=tuple(problems),
        transformers=tuple(transformers[:IMPORTS_MAX]),
        packages=tuple(packages[:IMPORTS_MAX]),
        elsewhere=tuple(elsewhere),
    )
