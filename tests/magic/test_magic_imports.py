"""What the magic and render packages import, read with `ast` (lazy imports inside functions
included, ``if TYPE_CHECKING:`` imports left out): no circle between the magic's modules (issue 17:
``_cell`` <-> ``_each``), and render/ shows events only: it imports nothing from client/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ipygemini

PACKAGE = Path(ipygemini.__file__).parent


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def imports_of(path: Path) -> list[str]:
    """Absolute dotted names `path` imports at run time (``from . import x`` as ``pkg.x``)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    tree = ast.parse(path.read_text())
    skipped = _type_checking_lines(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_graph(folder: str) -> dict[str, set[str]]:
    """Each module of `folder` -> the modules of the same folder it imports."""
    names = {p.stem: p for p in (PACKAGE / folder).glob("*.py")}
    prefix = f"ipygemini.{folder}."
    graph: dict[str, set[str]] = {}
    for stem, path in names.items():
        targets = {name.removeprefix(prefix).split(".")[0] for name in imports_of(path)}
        graph[stem] = {t for t in targets if t in names and t != stem}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path, node, target]
            if target not in state and (found := visit(target, [*path, node])) is not None:
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])) is not None:
            return found
    return None


def test_no_import_circle_between_the_magic_modules() -> None:
    graph = module_graph("magic")
    assert "_cell" not in graph["_each"], "_each imports _cell"
    assert cycle(graph) is None, cycle(graph)


def test_render_imports_nothing_from_the_client() -> None:
    for path in sorted((PACKAGE / "render").glob("*.py")):
        client = [name for name in imports_of(path) if name.startswith("ipygemini.client")]
        assert client == [], f"{path.name} imports {client}"
