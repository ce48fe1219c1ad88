"""Pin the images of docker-compose.yml by digest: ``image: name:tag`` becomes
``image: name:tag@sha256:<digest of the tag's multi-arch index>``, as the registry serves it now.

    python3 docker/pin_images.py            # resolve every tag, rewrite the compose file
    python3 docker/pin_images.py --check    # list images without a digest; exit 1 if any

(``make pin-images`` runs the first.) The tag stays beside the digest so a reader sees the
release; Docker pulls by the digest alone, so a tag moved on the registry changes nothing. An
image already pinned is resolved again (to move to a rebuilt tag, run this and review the diff).
Images built here (``build:``) are skipped. Standard library only; talks to Docker Hub, quay.io,
ghcr.io or any registry of the OCI distribution API, with their anonymous token flow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
INDEX_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
]
SINGLE_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]
IMAGE_LINE = re.compile(
    r"^(?P<indent>\s*image:\s*)(?P<name>[\w.\-/:]+?):(?P<tag>[\w.\-]+)"
    r"(?:@sha256:[0-9a-f]{64})?\s*$",
    re.M,
)
TIMEOUT = 30


class PinError(Exception):
    pass


def split_reference(name: str) -> tuple[str, str]:
    """(registry host, repository) of an image name, with Docker Hub's defaults."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "registry-1.docker.io", name if rest else f"library/{name}"


def _open(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of GET ``url``; only http(s): the realm of a token challenge
    comes from the registry's answer, and must not make this read a local file."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise PinError(f"refusing to fetch {url!r}: not an http(s) URL")
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 - scheme checked
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read(1 << 22)
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read(1 << 16)
    except urllib.error.URLError as exc:
        raise PinError(f"cannot reach {req.full_url}: {exc.reason}") from None


def _token(challenge: str) -> str:
    """An anonymous pull token from a ``WWW-Authenticate: Bearer realm=...`` challenge."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if not challenge.lower().startswith("bearer") or "realm" not in fields:
        raise PinError(f"the registry asks for authentication this script cannot do: {challenge!r}")
    query = urllib.parse.urlencode({k: v for k, v in fields.items() if k in ("service", "scope")})
    status, _, body = _open(f"{fields['realm']}?{query}")
    if status != 200:
        raise PinError(f"token request to {fields['realm']} answered HTTP {status}")
    data = json.loads(body)
    return data.get("token") or data.get("access_token") or ""


def resolve(name: str, tag: str, registry: str | None = None) -> tuple[str, str]:
    """(digest, media type) of ``name:tag``'s manifest, preferring the multi-arch index.
    ``registry`` (a base URL) replaces the registry the name implies, e.g. a mirror."""
    host, repo = split_reference(name)
    base = registry.rstrip("/") if registry else f"https://{host}"
    url = f"{base}/v2/{repo}/manifests/{tag}"
    headers = {"Accept": ", ".join(INDEX_TYPES + SINGLE_TYPES)}
    status, got, body = _open(url, headers)
    if status == 401:
        headers["Authorization"] = f"Bearer {_token(got.get('www-authenticate', ''))}"
        status, got, body = _open(url, headers)
    if status != 200:
        raise PinError(f"{name}:{tag}: {url} answered HTTP {status}")
    digest = got.get("docker-content-digest") or f"sha256:{hashlib.sha256(body).hexdigest()}"
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise PinError(f"{name}:{tag}: the registry gave no usable digest ({digest!r})")
    return digest, got.get("content-type", "").split(";")[0]


def images(text: str) -> list[re.Match]:
    return list(IMAGE_LINE.finditer(text))


def unpinned(text: str) -> list[str]:
    return [
        m.group(0).split("image:", 1)[1].strip()
        for m in images(text)
        if "@sha256:" not in m.group(0)
    ]


def pin(
    text: str,
    built: set[str],
    registry: str | None = None,
    say=lambda line: print(line, file=sys.stderr),
) -> str:
    """``text`` (a compose file) with each image not in ``built`` pinned to its current digest."""

    def replace(m: re.Match) -> str:
        name, tag = m.group("name"), m.group("tag")
        if f"{name}:{tag}" in built:
            return m.group(0)
        digest, kind = resolve(name, tag, registry)
        if kind not in INDEX_TYPES:
            say(
                f"warning: {name}:{tag} is a single-platform manifest ({kind}), not a multi-arch index"
            )
        say(f"{name}:{tag} -> {digest}")
        return f"{m.group('indent')}{name}:{tag}@{digest}"

    return IMAGE_LINE.sub(replace, text)


def built_images(text: str) -> set[str]:
    """Images the compose file builds here (a ``build:`` beside the ``image:``), by a light read
    of the YAML: PyYAML may not be installed where this runs."""
    out, block = set(), []
    for line in text.splitlines() + ["<end>"]:
        if re.match(r"^ {0,2}\S", line):  # a service (or top-level key) begins
            if any(re.match(r"^\s+build:", b) for b in block):
                out |= {
                    b.split("image:", 1)[1].strip() for b in block if re.match(r"^\s+image:", b)
                }
            block = []
        block.append(line)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=COMPOSE)
    ap.add_argument("--check", action="store_true", help="only list images without a digest")
    ap.add_argument("--registry", help="base URL of a registry (mirror) to ask instead")
    args = ap.parse_args(argv)
    text = args.file.read_text()
    built = built_images(text)
    if args.check:
        missing = [i for i in unpinned(text) if i not in built]
        for image in missing:
            print(f"{args.file.name}: {image} is not pinned by digest (make pin-images)")
        return 1 if missing else 0
    try:
        new = pin(text, built, args.registry)
    except (PinError, OSError) as exc:
        print(f"error: {exc}; {args.file} is unchanged", file=sys.stderr)
        return 1
    if new != text:
        args.file.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
