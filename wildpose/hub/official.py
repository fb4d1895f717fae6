"""Install an official CLAMP download: pick the checkpoint of one backbone, then convert it.

The official release (CLAMP, Zhang et al., CVPR 2023; github.com/xuzhang1199/CLAMP) is one file:
either a checkpoint or a zip/tar archive of several. A checkpoint is recognised by its tensor
layout (state_dict names and shapes), never by its file name: the one whose tensors are exactly
those :func:`wildpose.pose.convert.convert_official` needs for the architecture is converted by
that same function (the code of ``wildpose convert``).
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from ..atomic import temp_path
from ..errors import ModelError

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
# File-name words tried first for each backbone; the tensor layout decides.
NAME_HINTS = {
    "rn50": ("res50", "rn50", "resnet"),
    "vitb16": ("vitb", "vit-b", "vit_b", "b16"),
    "vitl14": ("vitl", "vit-l", "vit_l", "l14"),
}


def install_official(download: Path, arch: str, dst: Path) -> str:
    """Convert the ``arch`` checkpoint of an official download into ``dst``; returns its sha256.

    ``download`` is a checkpoint or a zip/tar archive of checkpoints. Raises
    :class:`ModelError` naming the download when no checkpoint has the ``arch`` layout.
    """
    from ..pose.convert import convert_official

    with official_checkpoint(download, arch) as checkpoint:
        return convert_official(checkpoint, arch, dst)


@contextmanager
def official_checkpoint(download: Path, arch: str) -> Iterator[Path]:
    """The checkpoint of ``arch`` in ``download``: the file itself, or a member extracted into a
    temporary folder beside it (removed when the block ends)."""
    if not _is_archive(download):
        yield download
        return
    seen: list[str] = []
    # A private folder, so the member keeps its own file name (recorded by the conversion).
    work = temp_path(download.with_name("extract"))
    work.mkdir()
    try:
        with _ranked_members(download, arch) as members:
            for name, opener in members:
                tmp = work / Path(name).name
                with opener() as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                if layout_arch(tmp, arch):
                    yield tmp
                    return
                seen.append(f"{name} ({describe_layout(tmp)})")
                tmp.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raise ModelError(
        f"no checkpoint in the archive has the {arch} layout; it holds: "
        + (", ".join(seen) or "no checkpoint files"),
        path=download,
    )


def _is_zip(path: Path) -> bool:
    """Whether the file starts as a zip (``zipfile.is_zipfile`` also says yes for a tar holding
    a zip: it looks for the zip's end record anywhere near the end)."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04" and zipfile.is_zipfile(path)


def _is_archive(path: Path) -> bool:
    """A zip or tar archive that is not itself a torch checkpoint (torch.save writes zips)."""
    if _is_zip(path):
        with zipfile.ZipFile(path) as z:
            return not any(n.count("/") == 1 and n.endswith("/data.pkl") for n in z.namelist())
    return tarfile.is_tarfile(path)


@contextmanager
def _ranked_members(archive: Path, arch: str) -> Iterator[list[tuple[str, Callable[[], Any]]]]:
    """(member name, opener) of the archive's checkpoint files, name-hinted ones first."""
    with ExitStack() as stack:
        members: list[tuple[str, Callable[[], Any]]] = []
        if _is_zip(archive):
            z = stack.enter_context(zipfile.ZipFile(archive))
            for zi in z.infolist():
                if not zi.is_dir():
                    members.append((zi.filename, lambda i=zi: z.open(i)))
        else:
            t = stack.enter_context(tarfile.open(archive, "r:*"))
            for ti in t.getmembers():
                if ti.isfile():
                    members.append((ti.name, lambda i=ti: _tar_member(t, i)))
        hints = NAME_HINTS.get(arch, (arch,))
        keep = [
            (n, o) for n, o in members if n.lower().endswith(CHECKPOINT_SUFFIXES) and not _hidden(n)
        ]
        yield sorted(keep, key=lambda m: not any(h in m[0].lower() for h in hints))


def _hidden(name: str) -> bool:
    return any(part.startswith((".", "__MACOSX")) for part in Path(name).parts)


@contextmanager
def _tar_member(t: tarfile.TarFile, info: tarfile.TarInfo) -> Iterator[IO[bytes]]:
    f = t.extractfile(info)
    if f is None:
        raise ModelError(f"cannot read {info.name} in the archive")
    with f:
        yield f


def _state_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a checkpoint's tensors (``module.`` stripped); {} if unreadable.

    Loaded with ``weights_only`` and memory-mapped where the file format allows, so only
    the pickled metadata is read.
    """
    import torch

    from ..pose.convert import official_state

    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a checkpoint at all: an archive may hold other files
        return {}
    if not isinstance(obj, dict):
        return {}
    return {k: tuple(v.shape) for k, v in official_state(obj).items()}


@lru_cache(maxsize=4)
def expected_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """The tensors an official ``arch`` checkpoint must hold (those wildpose's model loads)."""
    from ..pose.arch import get_arch
    from ..pose.convert import OFFICIAL_MANIFESTS
    from ..pose.manifest import load_manifest
    from ..pose.model import build_clamp

    manifest = load_manifest(OFFICIAL_MANIFESTS[arch])
    model = build_clamp(get_arch(arch), manifest.keypoints)
    return {
        k: tuple(v.shape)
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def layout_arch(path: Path, arch: str) -> bool:
    """Whether the checkpoint at ``path`` holds every tensor of ``arch`` with its shape."""
    have = _state_shapes(path)
    if not have:
        return False
    want = expected_shapes(arch)
    return all(have.get(k) == shape for k, shape in want.items())


def describe_layout(path: Path) -> str:
    """A few words on a checkpoint's backbone (for the error listing what an archive holds)."""
    have = _state_shapes(path)
    if not have:
        return "not a checkpoint"
    conv1 = have.get("backbone.conv1.weight")
    if any(k.startswith("backbone.transformer.") for k in have):
        kind = "ViT"
    elif any(k.startswith("backbone.layer1.") for k in have):
        kind = "ResNet"
    else:
        kind = "unknown backbone"
    return f"{kind}, conv1 {conv1}" if conv1 else f"{kind}, {len(have)} tensors"
