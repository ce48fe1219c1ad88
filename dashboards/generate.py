"""Generate ``dashboards/<name>.json`` from every ``dashboards/<name>.dashboard.py``.

python dashboards/generate.py          # (re)write the JSON files
python dashboards/generate.py --check  # exit 1 and list the files that are out of date
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    # Run as a script, Python puts dashboards/ first on the path; sources import `dashboards.style`.
    sys.path.insert(0, str(ROOT))

from grafanalib.core import Dashboard  # noqa: E402

from dashboards import style  # noqa: E402

SUFFIX = ".dashboard.py"


def sources(folder: Path = HERE) -> list[Path]:
    return sorted(folder.glob("*" + SUFFIX))


def output_path(source: Path) -> Path:
    return source.with_name(source.name[: -len(SUFFIX)] + ".json")


def load(source: Path) -> Dashboard:
    """Execute a dashboard source and return its ``dashboard``."""
    name = "dashboards._sources." + source.name[: -len(SUFFIX)].replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dashboard = getattr(module, "dashboard", None)
    if not isinstance(dashboard, Dashboard):
        raise TypeError(f"{source.name} must define `dashboard = Dashboard(...)`")
    return dashboard


def render(source: Path) -> str:
    """The JSON text committed for one source."""
    return style.dumps(style.render(load(source)))


def outdated(folder: Path = HERE) -> list[Path]:
    """Generated files that are missing or differ from what their source renders now."""
    stale = []
    for source in sources(folder):
        out = output_path(source)
        if not out.exists() or out.read_text() != render(source):
            stale.append(out)
    return stale


def write(folder: Path = HERE) -> list[Path]:
    written = []
    for source in sources(folder):
        out = output_path(source)
        text = render(source)
        if not out.exists() or out.read_text() != text:
            out.write_text(text)
            written.append(out)
    return written


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 listing the JSON files that differ from their source",
    )
    p.add_argument(
        "--dir", type=Path, default=HERE, help="folder of the sources (default: this one)"
    )
    args = p.parse_args(argv)
    if args.check:
        stale = outdated(args.dir)
        for path in stale:
            print(f"{_shown(path)} is out of date: run python dashboards/generate.py")
        return 1 if stale else 0
    for path in write(args.dir):
        print(f"wrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
