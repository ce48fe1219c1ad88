"""YAML config loading with validation that reports every problem at once, each with its key path.

Both services describe their config as pydantic models; this module turns a file into a model or
into one :class:`ConfigError` listing ``path.to.key: problem`` lines (the CLI exits 2 on it).
Secrets come from the environment: ``${VAR}`` in a string value of the config *file* is replaced
by the variable. Nothing else is expanded: a value that arrives over the network (an API body
validated with :func:`validate`) stays as written, or a request could read the environment.
Files a config names (tokens, CA bundles, keys) are checked when a file is loaded, so a path that
cannot be read is refused at start-up and by ``check-config`` rather than failing every cycle.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationError,
    ValidationInfo,
)

from .durations import parse_duration
from .redact import redact_urls

M = TypeVar("M", bound=BaseModel)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """Every problem found in a config file, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid config {source}:\n" + "\n".join(f"  - {p}" for p in problems))


# Set in the validation context by load_config: files are checked when a config is loaded from
# disk, not when a part of it is validated again later (e.g. an API request built on it).
CHECK_FILES = "check_files"


def _readable_file(value: str, info: ValidationInfo) -> str:
    if not value.strip():
        raise ValueError("empty path")
    if info.context and info.context.get(CHECK_FILES):
        p = Path(value)
        try:
            with p.open("rb") as f:
                f.read(1)
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
    return value


ReadableFile = Annotated[str, AfterValidator(_readable_file)]
"""A path the service reads (a token, a CA bundle, a key): it must exist and be readable when
the config is loaded from a file."""


class Strict(BaseModel):
    """Base for config sections: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> float:
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]


def _expand_env(node: Any, path: str, problems: list[str]) -> Any:
    if isinstance(node, dict):
        return {
            k: _expand_env(v, f"{path}.{k}" if path else str(k), problems) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_expand_env(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                problems.append(f"{path}: environment variable {m.group(1)} is not set")
                return ""
            return os.environ[m.group(1)]

        return _ENV.sub(sub, node)
    return node


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "constrained-")):
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def validate(
    model: type[M],
    data: Any,
    source: str = "<config>",
    problems: list[str] | None = None,
    check_files: bool = False,
) -> M:
    """The config model built from parsed data as it is (no environment expansion), or
    ConfigError with every problem (``problems`` already found come first).

    ``check_files`` also checks that every :data:`ReadableFile` can be read. Problems never
    carry ``user:password@`` from URLs."""
    problems = list(problems or [])
    data = data if data is not None else {}
    try:
        result = model.model_validate(data, context={CHECK_FILES: check_files})
    except ValidationError as exc:
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check its spelling and indentation)"
            if not err["loc"]:  # a cross-field check: one problem per line, each with its path
                problems.extend(msg.split("\n"))
                continue
            problems.append(f"{_loc(err['loc'])}: {msg}")
        result = None
    if problems:
        raise ConfigError(redact_urls(source), [redact_urls(p) for p in problems])
    assert result is not None
    return result


def read_config_file(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """A YAML config file as data with ``${VAR}`` expanded, and the problems found doing so;
    ConfigError when it cannot be read or parsed as a mapping."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            str(p),
            [
                f"line {line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} "
                f"at offset {exc.start}); save the file as UTF-8"
            ],
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(
            str(p), [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]
        ) from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(str(p), ["(top level): expected a mapping of keys to values"])
    problems: list[str] = []
    data = _expand_env(data or {}, "", problems)
    return data, problems


def load_config(model: type[M], path: str | Path | None) -> M:
    """Read and validate a YAML file; ``None`` means the model's defaults."""
    if path is None:
        return validate(model, {}, "<defaults>")
    data, problems = read_config_file(path)
    return validate(model, data, str(path), problems, check_files=True)
