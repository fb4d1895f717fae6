"""``hf://ORG/REPO/FILE`` addresses, validated by wildpose before huggingface_hub sees them.

The repository id follows the Hugging Face Hub's naming rules (letters, digits, ``-``, ``_``,
``.``; no ``--`` or ``..``; at most 96 characters, huggingface_hub's ``validate_repo_id``); the
file is a relative path inside the repository: no ``..`` or ``.`` segments, no absolute path,
no backslash or control characters, no empty segments.
"""

from __future__ import annotations

import re
import urllib.parse

from ..errors import ModelError

PREFIX = "hf://"
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_MAX_REPO_ID = 96


def parse_hf_spec(spec: str) -> tuple[str, str]:
    """``(repo_id, filename)`` of ``hf://ORG/REPO/FILE`` (FILE may hold sub-folders).

    Raises :class:`ModelError` (one line naming the spec) for any other shape.
    """
    if not spec.startswith(PREFIX):
        raise ModelError(f"{spec}: expected hf://ORG/REPO/FILE")
    rest = spec[len(PREFIX) :]
    if rest.startswith("/") or "\\" in rest or any(ord(c) < 32 or ord(c) == 127 for c in rest):
        raise ModelError(
            f"{spec}: expected hf://ORG/REPO/FILE (a relative path, no backslash or control "
            "characters)"
        )
    parts = rest.split("/")
    if len(parts) < 3 or not all(parts):
        raise ModelError(f"{spec}: expected hf://ORG/REPO/FILE (no empty parts)")
    org, repo, *path = parts
    for what, name in (("organisation", org), ("repository", repo)):
        if not _NAME.fullmatch(name) or "--" in name or ".." in name:
            raise ModelError(f"{spec}: {name!r} is not a valid Hugging Face {what} name")
    if len(org) + 1 + len(repo) > _MAX_REPO_ID:
        raise ModelError(f"{spec}: the repository id is longer than {_MAX_REPO_ID} characters")
    for segment in path:
        if urllib.parse.unquote(segment) in (".", ".."):
            raise ModelError(f"{spec}: the file path must not contain '.' or '..' segments")
    return f"{org}/{repo}", "/".join(path)
