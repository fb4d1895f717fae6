"""Official CLAMP downloads: the checkpoint of a backbone is found by tensor layout and converted.

Tiny official-layout checkpoints (the ``tiny`` ResNet and ``tiny-vit`` ViT architectures, the
same modules as the paper sizes) stand in for the release's RN50 / ViT-B/16 / ViT-L/14 files.
"""

from __future__ import annotations

import dataclasses
import tarfile
import zipfile

import pytest
import torch

from wildpose.errors import ModelError
from wildpose.hub import official
from wildpose.hub.official import install_official, official_checkpoint
from wildpose.hub.pull import install
from wildpose.pose import convert
from wildpose.pose.checkpoint import load_checkpoint
from wildpose.pose.manifest import Manifest, load_manifest
from wildpose.pose.model import build_clamp

AP10K = load_manifest("clamp-tiny").keypoints


def official_layout(arch: str, seed: int) -> tuple[dict, dict[str, torch.Tensor]]:
    """An mmcv-style checkpoint of a seeded ``arch`` model (clamp-spec section 9), and the
    model's own state for comparison."""
    torch.manual_seed(seed)
    model = build_clamp(arch, AP10K)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    state = {f"module.{k}": v for k, v in own.items() if not k.endswith("num_batches_tracked")}
    d = model.arch.embed_dim
    state["module.text_projection"] = torch.randn(d, d)
    state["module.prompt_encoder.positional_embedding"] = torch.zeros(17, d)
    state["module.prompt_encoder.text_projection"] = torch.zeros(d, d)
    return {"meta": {"epoch": 210}, "state_dict": state}, own


@pytest.fixture
def tiny_official(monkeypatch):
    """Let the conversion accept the tiny architectures (as if they were released)."""
    monkeypatch.setitem(convert.OFFICIAL_MANIFESTS, "tiny", "clamp-tiny")
    monkeypatch.setitem(convert.OFFICIAL_MANIFESTS, "tiny-vit", "clamp-tiny")
    official.expected_shapes.cache_clear()
    yield
    official.expected_shapes.cache_clear()


@pytest.fixture
def release(tmp_path, tiny_official):
    """A zip holding a ResNet and a ViT checkpoint under misleading names, plus a README."""
    resnet, resnet_state = official_layout("tiny", seed=1)
    vit, vit_state = official_layout("tiny-vit", seed=2)
    torch.save(resnet, tmp_path / "a.pth")
    torch.save(vit, tmp_path / "b.pth")
    path = tmp_path / "release.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("CLAMP/README.txt", "checkpoints of the paper")
        z.write(tmp_path / "a.pth", "CLAMP/ViTB_ap10k.pth")  # the name says ViT; it is a ResNet
        z.write(tmp_path / "b.pth", "CLAMP/res50_ap10k.pth")
    return path, {"tiny": resnet_state, "tiny-vit": vit_state}


def _same_weights(path, expected: dict[str, torch.Tensor]) -> bool:
    loaded = load_checkpoint(path).model.state_dict()
    return all(torch.equal(loaded[k], v) for k, v in expected.items())


@pytest.mark.parametrize("arch", ["tiny", "tiny-vit"])
def test_archive_member_is_found_by_layout_and_converted(release, tmp_path, arch):
    archive, states = release
    dst = tmp_path / "out" / f"{arch}.pt"
    sha = install_official(archive, arch, dst)
    assert len(sha) == 64 and _same_weights(dst, states[arch])
    assert load_checkpoint(dst).model.arch.name == arch
    # nothing extracted is left beside the archive
    assert sorted(p.name for p in archive.parent.iterdir() if p.name.startswith(".")) == []


def test_tar_archives_work_too(release, tmp_path):
    archive, states = release
    tar = tmp_path / "release.tar"
    with zipfile.ZipFile(archive) as z, tarfile.open(tar, "w") as t:
        z.extractall(tmp_path / "x")
        t.add(tmp_path / "x" / "CLAMP", "CLAMP")
    install_official(tar, "tiny-vit", tmp_path / "v.pt")
    assert _same_weights(tmp_path / "v.pt", states["tiny-vit"])


def test_a_single_checkpoint_is_not_taken_for_an_archive(tmp_path, tiny_official):
    ckpt, state = official_layout("tiny", seed=3)
    torch.save(ckpt, tmp_path / "one.pth")  # torch.save writes a zip file
    with official_checkpoint(tmp_path / "one.pth", "tiny") as found:
        assert found == tmp_path / "one.pth"


def test_no_matching_layout_lists_what_the_archive_holds(release, tiny_official, monkeypatch):
    archive, _ = release
    monkeypatch.setitem(convert.OFFICIAL_MANIFESTS, "tiny-other", "clamp-tiny")
    monkeypatch.setitem(official.NAME_HINTS, "tiny-other", ())
    from wildpose.pose import arch as arch_mod

    wide = dataclasses.replace(arch_mod.ARCHS["tiny"], name="tiny-other", resnet_width=32)
    monkeypatch.setitem(arch_mod.ARCHS, "tiny-other", wide)
    with pytest.raises(ModelError, match="no checkpoint in the archive has the tiny-other") as e:
        install_official(archive, "tiny-other", archive.parent / "x.pt")
    msg = str(e.value)
    assert "\n" not in msg and "CLAMP/ViTB_ap10k.pth (ResNet" in msg and "(ViT" in msg


def _release_manifest(name: str) -> Manifest:
    m = load_manifest("clamp-tiny")
    return Manifest(
        name=m.name,
        arch="tiny-vit",
        keypoints=m.keypoints,
        weights={
            "file": "clamp-tinyvit-test.pt",
            "format": "clamp-official",
            "source": "gdrive:FAKE-DRIVE-ID",
            "download_name": name,
        },
    )


def test_pull_of_an_official_release_from_a_mirror(release, server, hub_env, monkeypatch):
    archive, states = release
    server.files["clamp-release"] = archive.read_bytes()
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url)
    path = install(_release_manifest("clamp-release"), progress=False)
    assert path == hub_env / "clamp-tinyvit-test.pt"
    assert _same_weights(path, states["tiny-vit"])
    assert (hub_env / "downloads" / "clamp-release").is_file()  # kept for the other backbones
    assert (hub_env / "downloads" / "clamp-release.sha256").is_file()
    path.unlink()
    install(_release_manifest("clamp-release"), progress=False)  # converted again, no download
    assert server.count("clamp-release") == 1
