"""AWS report manifests: which files hold the current version of a billing period.

A legacy Cost and Usage Report writes ``<period>/<report>-Manifest.json`` beside one folder per
report version (``<period>/<assembly id>/...``), and its ``reportKeys`` name the current version's
files; AWS Data Exports (CUR 2.0, FOCUS) write ``metadata/BILLING_PERIOD=YYYY-MM/...-Manifest.json``
whose ``dataFiles`` name the files under ``data/BILLING_PERIOD=YYYY-MM/``. Reading every file of
such a folder counts each older version again; with the manifest only the current one is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from .files import FileRef

MAX_MANIFEST_BYTES = 16 * 2**20  # real manifests are kilobytes; this bounds a corrupt one


@dataclass(frozen=True)
class Manifest:
    url: str
    scope: str  # the folder (ending in /) whose billing files it decides
    keys: tuple[str, ...]  # object keys of the current version's files


def parse_manifest(url: str, data: bytes) -> Manifest:
    """The manifest at ``url``; :class:`ValueError` when it names no files."""
    obj = json.loads(data)
    keys = obj.get("reportKeys") or obj.get("dataFiles") if isinstance(obj, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise ValueError("neither reportKeys nor dataFiles is a list of file names")
    parent = url.rsplit("/", 1)[0] + "/"
    cut = parent.rfind("/metadata/")
    scope = parent[:cut] + "/data/" + parent[cut + len("/metadata/") :] if cut >= 0 else parent
    # dataFiles are s3:// URLs, reportKeys bucket keys: keep the key.
    clean = tuple(
        k.split("://", 1)[1].partition("/")[2] if "://" in k else k.lstrip("/") for k in keys
    )
    return Manifest(url, scope, clean)


def _named(ref: FileRef, m: Manifest) -> bool:
    # Keys are full object keys; a local copy keeps at least the part below the manifest's folder.
    rel = ref.url[len(m.scope) :]
    return any(k == rel or k.endswith("/" + rel) for k in m.keys)


def current_files(
    refs: Sequence[FileRef], manifests: Sequence[Manifest]
) -> tuple[list[FileRef], dict[str, list[str]], dict[str, list[str]]]:
    """The files to read: those no manifest decides, and those their manifest names (the
    outermost manifest decides: a report version's folder may hold its own). Also, per
    manifest URL, the files it left out and the files it names that are absent."""
    keep: list[FileRef] = []
    left_out: dict[str, list[str]] = {}
    matched: dict[str, set[str]] = {m.url: set() for m in manifests}
    for ref in refs:
        deciding = [m for m in manifests if ref.url.startswith(m.scope)]
        if not deciding:
            keep.append(ref)
            continue
        m = min(deciding, key=lambda m: len(m.scope))
        if _named(ref, m):
            keep.append(ref)
            matched[m.url].add(ref.url)
        else:
            left_out.setdefault(m.url, []).append(ref.url)
    missing = {}
    for m in manifests:
        found = matched[m.url]
        absent = [
            k
            for k in m.keys
            if not any(u.endswith("/" + k) or k.endswith("/" + u[len(m.scope) :]) for u in found)
        ]
        outer = [o for o in manifests if m.url != o.url and m.scope.startswith(o.scope)]
        if absent and not outer:
            missing[m.url] = absent
    return keep, left_out, missing
