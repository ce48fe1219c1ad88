"""Which files of an Azure Cost Management export tree to read.

Exports write ``<container>/<directory>/<export name>/<YYYYMMDD-YYYYMMDD>/<run id>/`` with part
files (csv, csv.gz or parquet) and a ``manifest.json`` written when the run is complete. A
month-to-date export re-writes the whole billing period on every run, so reading every run would
count each charge once per run: only the newest complete run of each billing period folder is
read. Complete = its manifest parses and every blob it lists is present; newest = the manifest's
``runInfo.submittedTime``. Without any complete run (manifests not copied, or a run still being
written) the run folder with the newest files is read, and a log line says so. Runs whose
manifest names another dataset than FocusCost (an ActualCost export in the same container) are
skipped, with a log line.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence

from promcast_exporter.billing.files import FileRef, Storage, is_billing_file

log = logging.getLogger(__name__)
PERIOD_DIR = re.compile(r"\d{8}-\d{8}")
MANIFEST = "manifest.json"
FOCUS_DATASET = "FocusCost"


@dataclass
class Run:
    path: Path
    files: list[Path]
    manifest: dict[str, Any] | None = None
    problem: str = ""  # why the run is not complete, for the log

    @property
    def submitted(self) -> str:
        return str((self.manifest or {}).get("runInfo", {}).get("submittedTime", ""))

    @property
    def dataset(self) -> str:
        """The export's dataset (``exportConfig.type``), empty when unknown."""
        return str((self.manifest or {}).get("exportConfig", {}).get("type", ""))

    @property
    def newest_mtime(self) -> float:
        return max((f.stat().st_mtime for f in self.files), default=0.0)


def _read_manifest(run: Run) -> None:
    path = run.path / MANIFEST
    if not path.is_file():
        run.problem = "no manifest.json"
        return
    try:
        manifest = json.loads(path.read_text(encoding="utf-8-sig"))
        blobs = [PurePosixPath(str(b["blobName"])).name for b in manifest.get("blobs", [])]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        run.problem = f"manifest.json is not a Cost Management manifest ({exc})"
        return
    present = {f.name for f in run.files}
    missing = [b for b in blobs if b not in present]
    if missing:
        run.problem = (
            f"manifest.json lists {len(missing)} part file(s) not present: {', '.join(missing[:3])}"
        )
        return
    if not blobs:
        run.problem = "manifest.json lists no part files"
        return
    run.manifest = manifest


def _runs(period: Path) -> list[Run]:
    runs = []
    for child in sorted(period.iterdir()):
        if child.is_dir():
            files = sorted(f for f in child.rglob("*") if f.is_file() and is_billing_file(f.name))
            run = Run(child, files)
            _read_manifest(run)
            runs.append(run)
        elif child.is_file() and is_billing_file(child.name):
            # Exports of the older layout put each run's file straight into the period folder.
            runs.append(Run(child, [child], problem="a file directly in the period folder"))
    return runs


def choose_run(period: Path) -> tuple[Run | None, list[Run]]:
    """The run of a billing period folder to read (None when it holds no data files), and all
    its runs that hold data files."""
    runs = [r for r in _runs(period) if r.files]
    if not runs:
        return None, runs
    complete = [r for r in runs if r.manifest is not None]
    if complete:
        return max(complete, key=lambda r: (r.submitted, r.path.name)), runs
    return max(runs, key=lambda r: (r.newest_mtime, r.path.name)), runs


def period_folders(root: Path) -> list[Path]:
    if not root.exists():
        # A vanished export folder fails the refresh (the last good totals stay) rather than
        # quietly dropping a month of spend.
        raise FileNotFoundError(f"Azure export path not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(
            f"Azure export path is not a directory: {root} (give the folder "
            "that holds the export's YYYYMMDD-YYYYMMDD folders, or a parent)"
        )
    found = [root] if PERIOD_DIR.fullmatch(root.name) else []
    found += sorted(d for d in root.rglob("*") if d.is_dir() and PERIOD_DIR.fullmatch(d.name))
    return found


class ExportStorage(Storage):
    """Local storage that lists only the chosen run of each billing period."""

    def __init__(self, count_call: Callable[[str], None], provider: str) -> None:
        super().__init__(count_call)
        self.provider = provider
        self.chosen: dict[str, str] = {}  # period folder -> run folder read

    def list(self, paths: Sequence[str]) -> list[FileRef]:
        refs: list[FileRef] = []
        chosen: dict[str, str] = {}
        for path in paths:
            periods = period_folders(Path(path))
            if not periods:
                log.warning(
                    "no YYYYMMDD-YYYYMMDD billing period folder under the path; is it an "
                    "export folder?",
                    extra={"provider": self.provider, "path": path},
                )
            for period in periods:
                run, runs = choose_run(period)
                if run is None:
                    continue
                chosen[str(period)] = str(run.path)
                if self.chosen.get(str(period)) != str(run.path):
                    self._log_choice(period, run, runs)  # once per new choice, not every refresh
                if run.dataset not in ("", FOCUS_DATASET):
                    continue  # e.g. an ActualCost export next to the FOCUS one: other columns
                for f in run.files:
                    st = f.stat()
                    refs.append(FileRef(str(f), f"{st.st_mtime_ns}:{st.st_size}"))
        self.chosen = chosen
        return refs

    def _log_choice(self, period: Path, run: Run, runs: list[Run]) -> None:
        context = {
            "provider": self.provider,
            "period": str(period),
            "run": run.path.name,
            "runs": len(runs),
        }
        if run.dataset not in ("", FOCUS_DATASET):
            log.warning(
                "skipping an export that is not a FOCUS export (choose the FocusCost "
                "dataset, or point paths at the FOCUS export's folder)",
                extra={**context, "dataset": run.dataset},
            )
        elif run.manifest is not None:
            log.info(
                "reading the newest complete export run",
                extra={**context, "submitted": run.submitted},
            )
        else:
            log.warning(
                "no export run of this billing period has a complete manifest.json; "
                "reading the run folder with the newest files",
                extra={**context, "reason": run.problem},
            )
