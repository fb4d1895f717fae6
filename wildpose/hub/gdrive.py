"""Google Drive downloads (the official CLAMP release) through ``gdown``.

gdown (github.com/wkentaro/gdown) handles Drive's confirmation pages, cookies, retries and
resuming. It writes into a staging file with a fixed name beside the target (so a later run
resumes gdown's own partial file); the staged file is verified by sha256 and only then renamed to
the target name.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..atomic import commit
from ..errors import ModelError
from .download import target_lock, verify

DRIVE_VIEW = "https://drive.google.com/file/d/{}/view"


def gdrive_download(
    file_id: str,
    dst: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    retries: int = 3,
    timeout: float = 60.0,
) -> str:
    """Fetch Drive file ``file_id`` into ``dst`` (resumed, verified, renamed); returns its sha256.

    Raises :class:`ModelError` (one line, with the manual route) when Drive refuses the file
    (quota exceeded, permission changed) or the transfer fails.
    """
    try:
        import gdown
    except ImportError:
        raise ModelError(
            "downloading from Google Drive needs gdown: pip install gdown (or download "
            f"{DRIVE_VIEW.format(file_id)} by hand)"
        ) from None
    dst = Path(dst)
    staged = dst.parent / f".{dst.name}.gdown"
    with target_lock(dst):
        try:
            out = gdown.download(
                id=file_id,
                output=str(staged),
                quiet=not progress,
                resume=True,
                retries=retries,
                timeout=timeout,
            )
        except Exception as e:  # gdown's FileURLRetrievalError, DownloadError, requests' errors
            first = " ".join(str(e).split())[:300] or type(e).__name__
            raise ModelError(
                f"Google Drive file {file_id}: download failed ({first}); run the same command "
                f"again to resume it, or download {DRIVE_VIEW.format(file_id)} in a browser"
            ) from None
        if out is None or not Path(out).is_file():
            raise ModelError(f"Google Drive file {file_id}: gdown wrote no file")
        if Path(out) != staged:  # gdown keeps the output name given; be safe if it did not
            os.replace(out, staged)
        digest = verify(staged, sha256=sha256, size=size, what=f"Google Drive file {file_id}")
        commit(staged, dst)
    return digest
