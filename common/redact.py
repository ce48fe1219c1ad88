"""Credentials out of text that reaches logs and error messages."""

from __future__ import annotations

import re

# scheme://user:password@host or scheme://token@host: everything between :// and @ goes.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s\"'<>]+@")


def redact_urls(text: str) -> str:
    """``text`` with the ``user:password@`` part of every URL in it left out."""
    return _USERINFO.sub(r"\1", text) if "@" in text else text
