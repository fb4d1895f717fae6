"""HTTP(S) downloads that resume, verify by sha256 and install by rename; offline and mirrors.

A download is written under a temporary name (:func:`wildpose.atomic.temp_path`), resumed with an
HTTP ``Range`` request where the server allows it (RFC 9110 section 14), checked against the
expected size and sha256, and only then renamed to its final name: a file with the final name
was always verified. A cut download keeps its partial file; the next attempt (in this run or a
later one) adopts it and asks only for the missing bytes. An exclusive lock per target keeps two
processes from writing the same download.

``WILDPOSE_OFFLINE=1``, ``HF_HUB_OFFLINE=1`` or an explicit flag forbid every download;
``WILDPOSE_MIRROR=URL`` (or a manifest's ``mirror``) fetches ``URL/NAME`` instead of the source.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from .. import __version__
from ..atomic import commit, is_partial, temp_path
from ..errors import ModelError

OFFLINE_VARS = ("WILDPOSE_OFFLINE", "HF_HUB_OFFLINE")
MIRROR_VAR = "WILDPOSE_MIRROR"
CHUNK = 1 << 20  # bytes per read


class TransientError(Exception):
    """A download failure worth retrying (connection cut, timeout, HTTP 5xx/408/429)."""


def is_offline(flag: bool = False) -> bool:
    """Whether downloads are forbidden: ``flag``, ``WILDPOSE_OFFLINE`` or ``HF_HUB_OFFLINE``."""
    truthy = {"1", "true", "yes", "on"}
    return flag or any(os.environ.get(v, "").strip().lower() in truthy for v in OFFLINE_VARS)


def mirror_url(name: str, manifest_mirror: str | None = None) -> str | None:
    """``MIRROR/NAME`` when ``WILDPOSE_MIRROR`` (or else the manifest's mirror) is set."""
    base = os.environ.get(MIRROR_VAR, "").strip() or (manifest_mirror or "").strip()
    if not base:
        return None
    return f"{base.rstrip('/')}/{urllib.parse.quote(name)}"


def sha256_of(path: str | Path, chunk: int = CHUNK) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextmanager
def target_lock(dst: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``dst``'s download for the block (other processes wait).

    ``fcntl.flock`` on ``DIR/.NAME.lock``; where ``fcntl`` does not exist (Windows) no lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dst.parent / f".{dst.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def adopt_partial(dst: Path) -> Path:
    """A temporary name for ``dst`` holding the largest partial download left by earlier runs.

    Call with :func:`target_lock` held: the partials of ``dst`` then belong to no live writer.
    Other partials of ``dst`` are removed.
    """
    tmp = temp_path(dst)
    partials = sorted(
        (p for p in dst.parent.glob(f".{dst.name}.*") if is_partial(p) and p.is_file()),
        key=lambda p: p.stat().st_size,
    )
    if partials:
        os.replace(partials.pop(), tmp)
        for p in partials:
            p.unlink(missing_ok=True)
    return tmp


def verify(path: Path, *, sha256: str | None, size: int | None, what: str) -> str:
    """The sha256 of ``path``; removes it and raises a one-line error when size or hash differ."""
    got_size = path.stat().st_size
    if size is not None and got_size != size:
        path.unlink(missing_ok=True)
        raise ModelError(
            f"{what}: downloaded {got_size} bytes, expected {size}; the file was discarded "
            "and nothing was installed"
        )
    digest = sha256_of(path)
    if sha256 is not None and digest != sha256.lower():
        path.unlink(missing_ok=True)
        raise ModelError(
            f"{what}: sha256 mismatch (got {digest}, expected {sha256}); the file was "
            "discarded and nothing was installed"
        )
    return digest


def download(
    url: str,
    dst: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> str:
    """Fetch ``url`` into ``dst`` (resumed, verified, renamed); returns the file's sha256.

    ``sha256``/``size`` are the expected values (None: not checked). Network failures are
    retried ``retries`` times (``backoff`` seconds, doubling), each attempt resuming the partial
    file. Raises :class:`ModelError` (one line) when the transfer or the verification fails.
    """
    dst = Path(dst)
    what = clean_url(url)
    with target_lock(dst):
        tmp = adopt_partial(dst)
        resumed = tmp.exists()
        fetch = partial(_fetch, url, tmp, dst.name, progress, retries, timeout, backoff)
        fetch()
        try:
            digest = verify(tmp, sha256=sha256, size=size, what=what)
        except ModelError:
            if not resumed:
                raise
            # The partial file left by an earlier run may not be a prefix of this file (the
            # source changed, or the disk lied): download it whole once more.
            fetch()
            digest = verify(tmp, sha256=sha256, size=size, what=what)
        commit(tmp, dst)
    return digest


def _fetch(
    url: str, tmp: Path, name: str, progress: bool, retries: int, timeout: float, backoff: float
) -> None:
    """Transfer attempts until ``tmp`` holds the whole body; one-line error when all fail."""
    for attempt in range(retries + 1):
        try:
            _transfer(url, tmp, name=name, progress=progress, timeout=timeout)
            return
        except TransientError as e:
            if attempt == retries:
                raise ModelError(
                    f"{clean_url(url)}: download failed after {attempt + 1} attempts ({e}); "
                    "run the same command again to resume it"
                ) from None
            time.sleep(backoff * 2**attempt)


def _transfer(url: str, tmp: Path, *, name: str, progress: bool, timeout: float) -> None:
    """One attempt: append the missing bytes of ``url`` to ``tmp`` (or start it over)."""
    have = tmp.stat().st_size if tmp.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"wildpose/{__version__}"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the partial file is whole
            return
        if e.code in (408, 429) or e.code >= 500:
            raise TransientError(f"HTTP {e.code} {e.reason}") from None
        raise ModelError(f"{clean_url(url)}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise TransientError(_reason(e)) from None
    with response:
        status = response.status or 200  # file:// answers without a status
        if status == 206 and not _range_starts_at(response, have):
            tmp.unlink(missing_ok=True)
            raise TransientError("the server sent another byte range than asked; starting over")
        if status != 206:
            have = 0  # no Range asked, or the server ignored it: the whole file follows
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        got = have + _copy(response, tmp, have, total, name, progress)
    if total is not None and got < total:
        raise TransientError(f"connection closed after {got} of {total} bytes")


def _copy(response, tmp: Path, have: int, total: int | None, name: str, progress: bool) -> int:
    """Stream the body into ``tmp`` (appending after ``have`` bytes); returns bytes written."""
    from tqdm import tqdm

    written = 0
    mode = "ab" if have else "wb"
    with (
        open(tmp, mode) as f,
        tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=name,
            file=sys.stderr,
            disable=not progress,
            dynamic_ncols=True,
        ) as bar,
    ):
        try:
            while block := response.read(CHUNK):
                f.write(block)
                written += len(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as e:
            f.flush()
            raise TransientError(_reason(e)) from None
    return written


def _range_starts_at(response, offset: int) -> bool:
    """Whether a 206 answer's ``Content-Range: bytes A-B/N`` starts at ``offset``."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0]) == offset
    except (IndexError, ValueError):
        return False


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None) or e
    text = " ".join(str(reason).split())
    return text or type(e).__name__


def clean_url(url: str) -> str:
    """``url`` without its query string (signed URLs carry credentials there)."""
    return url.split("?", 1)[0]
