"""Paths and values as they appear in one-line messages.

File names may hold anything but ``/`` and NUL: newlines, tabs, escape sequences, and bytes that
are not UTF-8 (Python keeps those as lone surrogates, PEP 383). Printed raw, they split a message
over lines, move the terminal's cursor, or make ``print`` fail with UnicodeEncodeError.
:func:`display_path` writes them the way Python's string literals do (``\\n``, ``\\x1b``,
``\\xe9``), so the message stays one line and still names the file unambiguously.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import PurePath

__all__ = ["display_path", "display_text"]

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_text(text: str) -> str:
    """``text`` with control, separator and undecodable characters escaped: one printable line.

    Undecodable bytes (lone surrogates from ``os.fsdecode``) become ``\\xNN``; line and
    paragraph separators and other control characters ``\\n``, ``\\t``, ``\\xNN`` or
    ``\\uNNNN``. Ordinary spaces and printable non-ASCII letters are kept.
    """
    text = str(text)
    if any("\udc80" <= c <= "\udcff" for c in text):  # bytes the file system could not decode
        raw = os.fsencode(text) if os.name != "nt" else text.encode("utf-8", "surrogatepass")
        text = raw.decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else _escape(c) for c in text)


def display_path(path: str | os.PathLike[str] | PurePath) -> str:
    """``path`` as one printable line (see :func:`display_text`)."""
    return display_text(os.fspath(path) if not isinstance(path, str) else path)


def _escape(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if "\ud800" <= c <= "\udfff":  # any other lone surrogate
        return f"\\u{ord(c):04x}"
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if unicodedata.category(c) in ("Zl", "Zp", "Cc", "Cf", "Co", "Cn", "Cs", "Zs"):
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return c
