"""The import graph of ``exporter`` and ``forecaster``, by component, drawn from the code.

``python docs/import_graph.py`` prints the mermaid picture that ``docs/architecture.md`` embeds
between its ``import-graph`` markers; ``--write`` replaces it there, ``--check`` fails when the
picture no longer matches the code, and ``--modules`` lists every module-level edge instead.

Imports inside functions count too (a function-level import hides a dependency, it does not
remove it); those under ``if TYPE_CHECKING:`` do not, since they never run, and neither do
imports from or of the bare top-level packages, which hold only the version string.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("exporter", "forecaster")
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- import-graph:begin -->", "<!-- import-graph:end -->"

# Module prefix -> component, most specific first. The names are the ones docs/architecture.md
# uses; a module that matches none is a bug in this table, reported by component_of().
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("exporter.core", "shared core (exporter.core)"),
    ("promcast_exporter.providers", "exporter providers"),
    ("promcast_exporter.billing", "exporter billing"),
    ("promcast_exporter.cli", "exporter CLI"),
    ("promcast_exporter.__main__", "exporter CLI"),
    ("promcast_exporter.config", "exporter config"),
    ("exporter", "exporter CLI"),
    ("promcast_forecaster.recommend.cli", "forecaster CLI"),
    ("promcast_forecaster.report.cli", "forecaster CLI"),
    ("promcast_forecaster.cli", "forecaster CLI"),
    ("promcast_forecaster.__main__", "forecaster CLI"),
    ("promcast_forecaster.models", "models"),
    ("promcast_forecaster.source", "reader"),
    ("promcast_forecaster.selector", "reader"),
    ("promcast_forecaster.staleness", "reader"),
    ("promcast_forecaster.engine", "engine"),
    ("forecaster.auto", "engine"),
    ("promcast_forecaster.backtest", "engine"),
    ("promcast_forecaster.limits", "engine"),
    ("promcast_forecaster.interrupt", "engine"),
    ("promcast_forecaster.anomaly", "engine"),
    ("promcast_forecaster.budgets", "engine"),
    ("promcast_forecaster.calendar_effects", "engine"),
    ("promcast_forecaster.remote_write", "publishing"),
    ("promcast_forecaster.service", "service"),
    ("promcast_forecaster.api", "API"),
    ("promcast_forecaster.curves", "API"),
    ("promcast_forecaster.offline", "offline replay"),
    ("promcast_forecaster.config", "forecaster config"),
    ("promcast_forecaster.validators", "forecaster config"),
    ("promcast_forecaster.planning", "planning"),
    ("promcast_forecaster.recommend", "recommend"),
    ("promcast_forecaster.report", "report"),
    ("forecaster", "service"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_runtime(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for stmt in child.orelse for n in [stmt, *_walk_runtime(stmt)])
            continue
        yield child
        yield from _walk_runtime(child)


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports at run time, resolved to modules that exist."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _walk_runtime(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # "from pkg import mod" imports the submodule when there is one.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def module_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def component_of(module: str) -> str:
    for prefix, component in COMPONENTS:
        if module == prefix or module.startswith(prefix + "."):
            return component
    raise KeyError(f"{module}: no component in docs/import_graph.py COMPONENTS; add it there")


def component_edges() -> Counter[tuple[str, str]]:
    edges: Counter[tuple[str, str]] = Counter()
    for source, targets in module_graph().items():
        for target in targets:
            if source in PACKAGES or target in PACKAGES:
                continue  # the bare packages hold only the version
            a, b = component_of(source), component_of(target)
            if a != b:
                edges[(a, b)] += 1
    return edges


def _node_id(component: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in component)


def mermaid() -> str:
    """The component graph; an edge's label is how many modules import across it."""
    edges = component_edges()
    names = sorted({c for edge in edges for c in edge})
    lines = ["```mermaid", "graph LR"]
    for group, title in (("forecaster", "forecaster"), ("exporter", "exporter")):
        members = [n for n in names if any(c == n and p.startswith(group) for p, c in COMPONENTS)]
        members = [n for n in members if not (group == "forecaster" and n.startswith("exporter"))]
        members = [n for n in members if n != "shared core (exporter.core)"]
        lines.append(f"  subgraph {group}[{title}]")
        lines += [f'    {_node_id(n)}["{n}"]' for n in members]
        lines.append("  end")
    lines.append(f'  {_node_id("shared core (exporter.core)")}[["shared core (exporter.core)"]]')
    for (a, b), count in sorted(edges.items()):
        lines.append(f"  {_node_id(a)} -->|{count}| {_node_id(b)}")
    lines.append("```")
    return "\n".join(lines)


def embedded() -> str:
    text = DOC.read_text()
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write() -> None:
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    DOC.write_text(f"{head}{BEGIN}\n{mermaid()}\n{END}{rest.split(END, 1)[1]}")


def main(argv: list[str]) -> int:
    if "--modules" in argv:
        for source, targets in sorted(module_graph().items()):
            for target in sorted(targets):
                print(f"{source} -> {target}")
        return 0
    if "--write" in argv:
        write()
        return 0
    if "--check" in argv:
        if embedded() != mermaid():
            print(f"{DOC}: the import graph is out of date; run python docs/import_graph.py --write")
            return 1
        return 0
    print(mermaid())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
