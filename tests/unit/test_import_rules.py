"""Import rules that import-linter (``make test``, contracts in pyproject.toml) cannot express,
and the architecture picture kept true to the code."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("common", "exporter", "forecaster", "demo", "dashboards", "benchmarks")
# Folders installed under another import name (pyproject.toml's package-dir).
IMPORT_NAMES = {
    "common": "promcast_common",
    "exporter": "promcast_exporter",
    "forecaster": "promcast_forecaster",
}
FOLDER_OF = {name: folder for folder, name in IMPORT_NAMES.items()}

# (importer, imported private name) -> why it is allowed for now. Each entry is removed by a step
# of the plan in docs/architecture.md; an entry that no longer matches an import fails the test.
PRIVATE_ALLOWED: dict[tuple[str, str], str] = {}


def _load_import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "docs" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts[0] = IMPORT_NAMES.get(parts[0], parts[0])
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(module: str) -> bool:
    head, *rest = module.split(".")
    base = ROOT.joinpath(FOLDER_OF.get(head, head), *rest)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _local(package: str, module: str) -> str:
    if package and not _exists(module.split(".")[0]) and _exists(f"{package}.{module}"):
        return f"{package}.{module}"
    return module


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imports(path: Path):
    """(importer, imported module or name) for every import in the file, relative ones resolved;
    a bare import of a script folder's own module (benchmarks' ``from _data import``) is
    resolved inside that folder."""
    importer = _module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield importer, _local(package, alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            else:
                base = _local(package, base)
            for alias in node.names:
                yield importer, f"{base}.{alias.name}"
                yield importer, base


def private_imports() -> set[tuple[str, str]]:
    """Imports of a private name from outside the module (or, for a private module, outside the
    package) that defines it."""
    found = set()
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            for importer, imported in _imports(path):
                parts = imported.split(".")
                if FOLDER_OF.get(parts[0], parts[0]) not in SCANNED:
                    continue  # other projects' private names are their business
                for i, part in enumerate(parts):
                    if not _private(part):
                        continue
                    owner = ".".join(parts[:i])
                    if _exists(".".join(parts[: i + 1])):  # a private module: its package owns it
                        inside = importer == owner or importer.startswith(owner + ".")
                    else:  # a private name: only its module uses it
                        inside = importer == owner
                    if not inside:
                        found.add((importer, ".".join(parts[: i + 1])))
                    break
    return found


def test_no_private_name_is_imported_across_modules():
    found = private_imports()
    unexpected = sorted(found - PRIVATE_ALLOWED.keys())
    assert not unexpected, (
        "private names imported across modules (make them public where they are defined, or "
        f"move the code that needs them): {unexpected}"
    )
    stale = sorted(PRIVATE_ALLOWED.keys() - found)
    assert not stale, f"remove these from PRIVATE_ALLOWED in {__file__}, they are gone: {stale}"


def test_the_private_import_check_sees_relative_and_private_module_imports(tmp_path, monkeypatch):
    """The checker itself: a relative import of a private name and a private module used from
    another package are both reported; a package's own use of its private module is not."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import _helpers\n")
    (pkg / "sub" / "_helpers.py").write_text("def _hidden(): pass\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    monkeypatch.setitem(globals(), "SCANNED", ("pkg",))
    (pkg / "other.py").write_text("from pkg.user import _x\n")
    (pkg / "user.py").write_text(
        "from .sub._helpers import _hidden\nfrom pkg.sub import _helpers\n_x = 1\n"
    )
    assert private_imports() == {("pkg.user", "pkg.sub._helpers"), ("pkg.other", "pkg.user._x")}


def test_google_sdks_are_imported_only_by_the_gcp_provider():
    # import-linter cannot forbid google.auth / google.cloud without forbidding google.protobuf,
    # which remote write uses.
    found = set()
    for top in ("common", "exporter", "forecaster"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.is_relative_to(ROOT / "exporter" / "providers" / "gcp"):
                continue
            for importer, imported in _imports(path):
                if imported.startswith(("google.auth", "google.cloud")):
                    found.add((importer, ".".join(imported.split(".")[:2])))
    assert not found, sorted(found)


def test_no_code_imports_a_folder_by_its_bare_name():
    """``exporter``, ``forecaster`` and ``common`` are folders, not import names: run from the
    repository root, ``import exporter`` would load a second copy of the package beside
    ``promcast_exporter`` (two catalogues, two registries), and installed it would collide with
    any other distribution's generic top-level name."""
    found = []
    for top in (*SCANNED, "tests", "rules", "deploy", "docs", "docker"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "schemas" in path.parts:
                continue
            for _importer, imported in _imports(path):
                if imported.split(".")[0] in IMPORT_NAMES:
                    found.append(f"{path.relative_to(ROOT)}: {imported}")
    assert not found, f"import these by their installed names (promcast_*): {sorted(set(found))}"


def test_every_package_folder_is_installed():
    """setuptools cannot discover packages under a renamed folder, so pyproject.toml lists them;
    a new subpackage missing there would work in a checkout and be absent from the wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        _module_name(init.parent / "__init__.py")
        for folder in IMPORT_NAMES
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert listed == on_disk


def test_architecture_picture_matches_the_code():
    graph = _load_import_graph()
    assert graph.embedded() == graph.mermaid(), (
        "docs/architecture.md's import graph is out of date: python docs/import_graph.py --write"
    )


def test_no_module_level_import_cycles():
    """import-linter checks cycles between siblings; this checks single modules, counting imports
    inside functions, which hide a cycle rather than remove it."""
    edges = _load_import_graph().module_graph()
    known: set[frozenset[str]] = set()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[frozenset[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(frozenset(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    assert set(cycles) == known, [sorted(c) for c in cycles]


@pytest.mark.parametrize("folder", sorted(IMPORT_NAMES))
def test_a_folder_imported_by_its_bare_name_says_which_name_to_use(folder):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", f"import {folder}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and f"import this package as {IMPORT_NAMES[folder]}" in out.stderr
