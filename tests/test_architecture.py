"""The house rules of the package, kept by a test rather than by memory: imports flow one way
(no circle), only ``master`` talks HTTP, only ``storage`` writes, only ``main`` imports click,
page rendering is pure, and the operator commands never import each other."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bandersnatch"
NETWORK = {"bandersnatch.master", "bandersnatch.deadlines", "bandersnatch.session", "bandersnatch.bodies"}  # its edge
HTTP = {"requests", "urllib3", "xmlrpc", "http", "socket", "urllib.request", "boto3", "botocore"}
OS_WRITES = {"replace", "rename", "unlink", "remove", "rmdir", "rmtree", "makedirs", "mkdir", "chmod", "truncate",
             "move", "copy", "copyfile", "symlink", "link"}  # os.* and shutil.*
PATH_WRITES = {"write_text", "write_bytes", "mkdir", "unlink", "rmdir", "touch", "symlink_to", "chmod", "rename"}
# The two writes outside storage/: the default config the first run writes (not in the mirror),
# and the bundle an export writes where the operator asked (not in the mirror either).
WRITERS_OUTSIDE_STORAGE = {"bandersnatch.main", "bandersnatch.commands.bundle_export"}
PURE = {"bandersnatch.pages.layout", "bandersnatch.pages.links", "bandersnatch.pages.html", "bandersnatch.pages.pep691",
        "bandersnatch.pages.blockmerge", "bandersnatch.model", "bandersnatch.upstream", "bandersnatch.subset.filters",
        "bandersnatch.subset.cooldown", "bandersnatch.pages.status_page", "bandersnatch.metrics",
        "bandersnatch.serving", "bandersnatch.subset.environments", "bandersnatch.subset.sdist",
        "bandersnatch.foreign_pages", "bandersnatch.answers"}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def imports(module: str) -> Iterator[str]:
    """Every module ``module`` imports at run time (at the top or inside a function)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_lines(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            yield base
            for alias in node.names:  # from . import accesslog
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}"


GRAPH = {module: {name for name in imports(module) if name in MODULES and name != module} for module in MODULES}


def _cycle_from(start: str) -> list[str]:
    """A path of imports from ``start`` back to itself, or []."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in GRAPH[node]:
            if nxt == start:
                return path + [start]
            if nxt not in seen and not nxt.startswith(start + "."):
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__init__")))
def test_no_import_circle(module: str) -> None:
    packages = {m for m in MODULES if MODULES[m].name == "__init__.py"}
    if module in packages:
        return  # a package's __init__ re-exporting its own modules is no circle
    cycle = [m for m in _cycle_from(module) if m not in packages]
    assert len(cycle) <= 1, " -> ".join(_cycle_from(module))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_master_and_storage_talk_to_the_network(module: str) -> None:
    talking = {name for name in imports(module) if name.split(".")[0] in {h.split(".")[0] for h in HTTP}
               and any(name == h or name.startswith(h + ".") for h in HTTP)}  # fmt: skip
    if module in NETWORK or module.startswith("bandersnatch.storage."):
        return
    assert not talking, f"{module} imports {talking}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_storage_writes(module: str) -> None:
    if module.startswith("bandersnatch.storage") or module in WRITERS_OUTSIDE_STORAGE:
        return
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    writes = [ast.unparse(call.func) for call in calls if isinstance(call.func, ast.Attribute) and (
        (ast.unparse(call.func.value) in ("os", "shutil") and call.func.attr in OS_WRITES)
        or call.func.attr in PATH_WRITES)]  # fmt: skip
    opened = [ast.unparse(call) for call in calls if isinstance(call.func, ast.Name) and call.func.id == "open"
              and any(isinstance(a, ast.Constant) and isinstance(a.value, str) and set(a.value) & set("wax+")
                      for a in call.args[1:2] + [k.value for k in call.keywords if k.arg == "mode"])]  # fmt: skip
    assert not writes and not opened, f"{module} writes by itself: {writes + opened}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_main_imports_click(module: str) -> None:
    if module != "bandersnatch.main":
        assert "click" not in {name.split(".")[0] for name in imports(module)}, module


@pytest.mark.parametrize("module", sorted(PURE & set(MODULES)))
def test_rendering_and_parsing_are_pure(module: str) -> None:
    impure = {name for name in imports(module) if name.startswith(("bandersnatch.storage", "bandersnatch.master"))}
    assert not impure, f"{module} imports {impure}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("bandersnatch.commands.")))
def test_commands_never_import_each_other(module: str) -> None:
    others = {name for name in GRAPH[module] if name.startswith("bandersnatch.commands.")}
    own_helpers = {"bandersnatch.commands.accesslog", "bandersnatch.commands.manifest"}  # parts of stats; the bundle format
    assert not others - own_helpers, f"{module} imports {others}"
