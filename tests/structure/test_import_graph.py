"""The package's import graph, read with `ast`: arrows between packages point one way.

Two rules (DESIGN.md, "Arrows point down"):

- no circle between modules of different packages (the subpackages of ``src/ipygemini``; the
  top-level modules form the root package). A circle inside one package is that package's
  business; one that crosses packages means neither can be understood (or imported) alone.
- no private name (leading underscore) imported across packages: a package's private names are
  its own to change.

Imports under ``if TYPE_CHECKING:`` are for the type checker and don't count; imports inside
functions do (they run, just later). The rules are proven to fail on tiny synthetic trees.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

PACKAGE_ROOT = ROOT / "src" / "ipygemini"

# Violations in other engineers' files at the time of writing, to shrink to nothing: each entry
# is (importing module, imported module, name). Remove an entry when its import is fixed (the
# test fails on an entry that no longer occurs, so the list can only shrink).
ALLOWED_PRIVATE: set[tuple[str, str, str]] = set()
ALLOWED_CIRCLES: set[frozenset[str]] = set()


@dataclass(frozen=True)
class Import:
    """One import statement's edge: `importer` takes `name` from module `source`."""

    importer: str
    source: str
    name: str | None
    line: int


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name (``pkg.sub._mod``)."""
    top = root.name
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [top, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements under `node`, at any depth, except under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _statements_of(other)
            continue
        yield from _statements_of(child)


def _statements_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _statements(node)


def imports(root: Path) -> list[Import]:
    """Every import between modules of the package at `root` (outside imports left out)."""
    modules = module_names(root)
    top = root.name
    found: list[Import] = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for statement in _statements(tree):
            if isinstance(statement, ast.Import):
                for alias in statement.names:
                    if alias.name.split(".")[0] == top:
                        found.append(Import(name, alias.name, None, statement.lineno))
                continue
            if statement.level:
                base = package.split(".")
                base = base[: len(base) - statement.level + 1]
                source = ".".join([*base, statement.module] if statement.module else base)
            else:
                source = statement.module or ""
            if source.split(".")[0] != top:
                continue
            for alias in statement.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:  # ``from pkg import module``: an edge to the module
                    found.append(Import(name, submodule, alias.name, statement.lineno))
                else:
                    found.append(Import(name, source, alias.name, statement.lineno))
    return found


def _package_table(root: Path) -> dict[str, str]:
    """Each module's package (a subpackage of `root`, or `root`'s own name for top modules)."""
    top = root.name
    table: dict[str, str] = {}
    for name, path in module_names(root).items():
        parts = name.split(".")
        if len(parts) == 1:
            table[name] = top
        elif len(parts) == 2 and path.name != "__init__.py":
            table[name] = top
        else:
            table[name] = ".".join(parts[:2])
    return table


def private_imports(root: Path) -> set[tuple[str, str, str]]:
    """(importer, source, name) for each private name one package takes from another."""
    table = _package_table(root)
    found: set[tuple[str, str, str]] = set()
    for edge in imports(root):
        named = edge.name or ""  # ``import pkg.a._b`` binds ``pkg``: a path, not a name
        private = named.startswith("_") and not named.startswith("__")
        if private and table[edge.importer] != table.get(edge.source, table[edge.importer]):
            found.add((edge.importer, edge.source, named))
    return found


def circles(root: Path) -> set[frozenset[str]]:
    """The strongly connected groups of modules that span more than one package."""
    table = _package_table(root)
    graph: dict[str, set[str]] = {name: set() for name in table}
    for edge in imports(root):
        if edge.source in graph and edge.source != edge.importer:
            graph[edge.importer].add(edge.source)
    return {group for group in _strongly_connected(graph) if len({table[m] for m in group}) > 1}


def _strongly_connected(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm, iterative (the package's graph is deep enough to matter)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(frozenset(group))
    return groups


def _describe(group: frozenset[str], root: Path) -> str:
    edges = [
        f"{e.importer} -> {e.source} (line {e.line})"
        for e in imports(root)
        if e.importer in group and e.source in group and e.importer != e.source
    ]
    return "; ".join(sorted(set(edges)))


# The package itself


def test_no_circle_between_packages() -> None:
    found = circles(PACKAGE_ROOT)
    new = found - ALLOWED_CIRCLES
    assert not new, "import circles across packages: " + " | ".join(
        _describe(g, PACKAGE_ROOT) for g in new
    )
    assert not ALLOWED_CIRCLES - found, "fixed: remove from ALLOWED_CIRCLES: " + repr(
        ALLOWED_CIRCLES - found
    )


def test_no_private_name_imported_across_packages() -> None:
    found = private_imports(PACKAGE_ROOT)
    new = found - ALLOWED_PRIVATE
    assert not new, "private names imported across packages (make them public): " + ", ".join(
        f"{importer} takes {name} from {source}" for importer, source, name in sorted(new)
    )
    assert not ALLOWED_PRIVATE - found, "fixed: remove from ALLOWED_PRIVATE: " + repr(
        sorted(ALLOWED_PRIVATE - found)
    )


# Arrows the issue names (DESIGN.md): these must never point up.
DOWNWARD_ONLY = {
    ("ipygemini.render", "ipygemini.client"),  # render shows events; it knows no client
    ("ipygemini.log", "ipygemini.client"),  # the log stores what it is given
    ("ipygemini._settings", "ipygemini.gateway"),  # Settings decides offline, knows no gateway
}
ALLOWED_UPWARD: set[tuple[str, str]] = set()


def upward_imports(root: Path) -> set[tuple[str, str]]:
    """(importing module, package) for each import against `DOWNWARD_ONLY`'s arrows."""
    found: set[tuple[str, str]] = set()
    for edge in imports(root):
        for importer, package in DOWNWARD_ONLY:
            within = edge.importer == importer or edge.importer.startswith(importer + ".")
            if within and (edge.source == package or edge.source.startswith(package + ".")):
                found.add((edge.importer, package))
    return found


def test_the_named_arrows_point_down() -> None:
    found = upward_imports(PACKAGE_ROOT)
    assert not found - ALLOWED_UPWARD, (
        f"imports against the arrows: {sorted(found - ALLOWED_UPWARD)}"
    )
    assert not ALLOWED_UPWARD - found, (
        f"fixed: remove from ALLOWED_UPWARD: {ALLOWED_UPWARD - found}"
    )


# The rules fail where they should: tiny synthetic packages


def _tree(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


def test_a_circle_across_packages_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "_base.py": "def helper():\n    from .a import thing\n",
            "a/__init__.py": "from ._mod import thing\n",
            "a/_mod.py": "from .._base import helper\nthing = 1\n",
        },
    )
    assert circles(root) == {frozenset({"pkg._base", "pkg.a", "pkg.a._mod"})}


def test_a_circle_inside_one_package_is_its_own_business(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "",
            "a/_one.py": "from ._two import y\nx = 1\n",
            "a/_two.py": "from . import _one\ny = 2\n",
        },
    )
    assert circles(root) == set()


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "a/__init__.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from ..b import _Secret\n",
            "b/__init__.py": "from ..a import x\n_Secret = 1\n",
        },
    )
    assert circles(root) == set()
    assert private_imports(root) == set()


def test_a_private_name_across_packages_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "_settings.py": "def decide():\n    from .gateway import _offline\n",
            "gateway/__init__.py": "",
            "gateway/_offline.py": "from ._impl import _start\n",
            "gateway/_impl.py": "def _start():\n    pass\n",
            "tools/__init__.py": "",
            "tools/_f.py": "import pkg.gateway._impl\nfrom ..gateway._impl import _start as s\n"
            "from ..gateway._impl import start_public\n",
        },
    )
    assert private_imports(root) == {
        ("pkg._settings", "pkg.gateway._offline", "_offline"),
        ("pkg.tools._f", "pkg.gateway._impl", "_start"),
    }


def test_an_upward_arrow_is_found(tmp_path: Path) -> None:
    package = tmp_path / "ipygemini"
    files = {
        "__init__.py": "",
        "_settings.py": "def resolve():\n    from .gateway import start\n",
        "gateway/__init__.py": "def start():\n    pass\n",
        "client/__init__.py": "",
        "render/__init__.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..client import Reply\n",
    }
    for name, text in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    assert upward_imports(package) == {("ipygemini._settings", "ipygemini.gateway")}
