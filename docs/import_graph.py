"""The import graph of promcast's packages, by component, drawn from the code.

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
# Folder -> import name (pyproject.toml's package-dir).
FOLDERS = {
    "common": "promcast_common",
    "exporter": "promcast_exporter",
    "forecaster": "promcast_forecaster",
}
PACKAGES = tuple(FOLDERS.values())
SHARED = "shared core (promcast_common)"
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- import-graph:begin -->", "<!-- import-graph:end -->"

# Module prefix -> component, most specific first. The names are the ones docs/architecture.md
# uses; a module that matches none is a bug in this table, reported by component_of().
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("promcast_common", SHARED),
    ("promcast_exporter.providers", "exporter providers"),
    ("promcast_exporter.billing", "exporter billing"),
    ("promcast_exporter.cli", "exporter CLI"),
    ("promcast_exporter.__main__", "exporter CLI"),
    ("promcast_exporter.config", "exporter config"),
    ("promcast_exporter", "exporter CLI"),
    ("promcast_forecaster.recommend.cli", "forecaster CLI"),
    ("promcast_forecaster.report.cli", "forecaster CLI"),
    ("promcast_forecaster.offline.cli", "forecaster CLI"),
    ("promcast_forecaster.anomaly.cli", "forecaster CLI"),
    ("promcast_forecaster.anomaly.replay", "offline replay"),
    ("promcast_forecaster.cli", "forecaster CLI"),
    ("promcast_forecaster.__main__", "forecaster CLI"),
    ("promcast_forecaster.models", "models"),
    ("promcast_forecaster.source", "reader"),
    ("promcast_forecaster.reader", "reader"),
    ("promcast_forecaster.selector", "reader"),
    # How old a sample may be: a target setting and its one test, read by config and engine.
    ("promcast_forecaster.staleness", "forecaster config"),
    ("promcast_forecaster.engine", "engine"),
    ("promcast_forecaster.backtest", "engine"),
    ("promcast_forecaster.limits", "engine"),
    # The checkpoints a model's loop calls so a stopping service ends a fit: below the models.
    ("promcast_forecaster.interrupt", "models"),
    # Public holidays as their own day type: a wrapper around any model, and its settings.
    ("promcast_forecaster.calendar_effects", "models"),
    ("promcast_forecaster.anomaly", "engine"),
    ("promcast_forecaster.budgets", "engine"),
    # The cycles a step can have: part of resolving a target's settings.
    ("promcast_forecaster.seasons", "forecaster config"),
    ("promcast_forecaster.remote_write", "publishing"),
    ("promcast_forecaster.publish", "publishing"),
    ("promcast_forecaster.service", "service"),
    ("promcast_forecaster.scheduler", "service"),
    ("promcast_forecaster.health", "health"),
    ("promcast_forecaster.api", "API"),
    ("promcast_forecaster.curves", "API"),
    ("promcast_forecaster.offline", "offline replay"),
    ("promcast_forecaster.config", "forecaster config"),
    ("promcast_forecaster.targets", "forecaster config"),
    ("promcast_forecaster.planning_config", "forecaster config"),
    ("promcast_forecaster.recommend_config", "forecaster config"),
    ("promcast_forecaster.report_config", "forecaster config"),
    # Instance types and prices: read by the recommendations' config check and by rightsizing.
    ("promcast_forecaster.instance_catalog", "forecaster config"),
    ("promcast_forecaster.validators", "forecaster config"),
    ("promcast_forecaster.planning", "planning"),
    ("promcast_forecaster.recommend", "recommend"),
    ("promcast_forecaster.report", "report"),
    ("promcast_forecaster", "service"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts[0] = FOLDERS[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
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
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
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
    for group, title in (("promcast_forecaster", "forecaster"), ("promcast_exporter", "exporter")):
        members = [n for n in names if any(c == n and p.startswith(group) for p, c in COMPONENTS)]
        lines.append(f"  subgraph {title}[{title}]")
        lines += [f'    {_node_id(n)}["{n}"]' for n in members]
        lines.append("  end")
    lines.append(f'  {_node_id(SHARED)}[["{SHARED}"]]')
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
            print(
                f"{DOC}: the import graph is out of date; run python docs/import_graph.py --write"
            )
            return 1
        return 0
    print(mermaid())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
