"""Self-describing checkpoints, model specs, official conversion and CLIP initialisation."""

from __future__ import annotations

import pytest
import torch

from wildpose.errors import ModelError
from wildpose.pose.arch import ClampArch, get_arch
from wildpose.pose.checkpoint import load_checkpoint, load_model, random_model, save_checkpoint
from wildpose.pose.clip_init import clip_to_clamp, init_from_clip
from wildpose.pose.convert import UNUSED, convert_official, official_state
from wildpose.pose.manifest import Manifest, load_manifest
from wildpose.pose.model import build_clamp

MOUSE = ("snout", "left ear", "right ear", "tail base")


def _mouse_manifest() -> Manifest:
    return Manifest(
        name="mouse-test",
        arch="tiny",
        keypoints=MOUSE,
        skeleton=((0, 1), (0, 2)),
        flip_pairs=((1, 2),),
        sigmas=(0.05,) * 4,
        input_size=(128, 128),
    )


def test_round_trip_is_bit_exact(tmp_path):
    torch.manual_seed(0)
    man = _mouse_manifest()
    model = build_clamp("tiny", MOUSE).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, man, train_config={"lr": 5e-4, "epochs": 3})
    loaded = load_checkpoint(path)
    for (k, a), (k2, b) in zip(
        model.state_dict().items(), loaded.model.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(a, b), k
    assert loaded.manifest == man
    assert loaded.train_config == {"lr": 5e-4, "epochs": 3}
    assert len(loaded.sha256) == 64
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))
    assert load_model(str(path)).manifest.keypoints == MOUSE  # by path
    assert not list(tmp_path.glob("*.partial"))


def test_clamp_tiny_is_deterministic():
    a, b = load_model("clamp-tiny"), load_model("clamp-tiny")
    assert a.sha256 == b.sha256
    assert a.manifest.name == "clamp-tiny" and len(a.manifest.keypoints) == 17


def test_paper_manifests_match_the_spec():
    for name, size in [
        ("clamp-rn50-ap10k", 256),
        ("clamp-vitb16-ap10k", 256),
        ("clamp-vitl14-ap10k", 224),
    ]:
        m = load_manifest(name)
        assert m.input_size == (size, size) and get_arch(m.arch).image_size == size
        assert len(m.keypoints) == 17 and len(m.sigmas) == 17
        assert m.flip_pairs == ((0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16))
        assert m.mean == (0.485, 0.456, 0.406)


def test_missing_weights_say_which_file_and_how(tmp_path, monkeypatch):
    monkeypatch.setenv("WILDPOSE_MODELS", str(tmp_path))
    with pytest.raises(ModelError, match=r"clamp-rn50-ap10k\.pt.*wildpose convert"):
        load_model("clamp-rn50-ap10k")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_corrupt_file_is_one_line(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError) as e:
        load_model(str(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_truncated_checkpoint(tmp_path, tiny_model):
    path = tmp_path / "t.pt"
    save_checkpoint(path, tiny_model.model, tiny_model.manifest)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt or truncated|not a readable"):
        load_checkpoint(path)


def test_missing_file_and_unknown_name(tmp_path):
    with pytest.raises(ModelError, match="no such checkpoint"):
        load_model(str(tmp_path / "nope.pt"))
    with pytest.raises(ModelError, match="unknown model"):
        load_model("clamp-nonexistent")


def test_wrong_architecture(tmp_path, tiny_model):
    obj_path = tmp_path / "x.pt"
    save_checkpoint(obj_path, tiny_model.model, tiny_model.manifest)
    obj = torch.load(obj_path, weights_only=True)
    obj["arch"] = get_arch("tiny-vit").to_dict()  # weights of a ResNet, architecture of a ViT
    torch.save(obj, obj_path)
    with pytest.raises(ModelError, match="do not fit architecture 'tiny-vit'"):
        load_checkpoint(obj_path)


def test_arch_dict_round_trip_and_empty_extra(tmp_path, tiny_model):
    arch = get_arch("tiny")
    assert ClampArch.from_dict(arch.to_dict()) == arch
    path = tmp_path / "old.pt"
    save_checkpoint(path, tiny_model.model, tiny_model.manifest)
    obj = torch.load(path, weights_only=True)
    obj["arch"]["extra"] = {}  # format-1 checkpoints carry this empty entry
    torch.save(obj, path)
    assert load_checkpoint(path).model.arch == arch
    with pytest.raises(ModelError, match="unknown architecture keys"):
        ClampArch.from_dict({**arch.to_dict(), "extra": {"x": 1}})


def test_keypoint_count_mismatch(tmp_path, tiny_model):
    path = tmp_path / "k.pt"
    save_checkpoint(path, tiny_model.model, tiny_model.manifest)
    obj = torch.load(path, weights_only=True)
    obj["manifest"]["keypoints"] = list(MOUSE)
    obj["manifest"]["skeleton"] = []
    obj["manifest"]["flip_pairs"] = []
    obj["manifest"]["sigmas"] = []
    torch.save(obj, path)
    with pytest.raises(ModelError, match="keypoint-count mismatch: the weights predict 17"):
        load_checkpoint(path)


def _official_layout(model) -> dict:
    """What an official mmcv checkpoint of this model would hold (clamp-spec section 9)."""
    state = {
        f"module.{k}": v.clone()
        for k, v in model.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    d = model.arch.embed_dim
    state["module.text_projection"] = torch.randn(d, d)
    state["module.prompt_encoder.positional_embedding"] = torch.full((17, d), float("nan"))
    state["module.prompt_encoder.text_projection"] = torch.empty(d, d)
    return {"meta": {"epoch": 210, "mmcv_version": "1.3.9"}, "state_dict": state, "optimizer": {}}


def test_official_state_drops_unused_and_prefix():
    torch.manual_seed(0)
    model = build_clamp("tiny", MOUSE)
    state = official_state(_official_layout(model))
    assert not any(k.startswith("module.") for k in state)
    assert not any(k in state for k in UNUSED)


@pytest.mark.slow
def test_convert_official_rn50(tmp_path):
    """A full-size official-layout RN50 checkpoint converts and predicts identically."""
    torch.manual_seed(0)
    names = load_manifest("clamp-rn50-ap10k").keypoints
    model = build_clamp("rn50", names).eval()
    src = tmp_path / "official.pth"
    torch.save(_official_layout(model), src)
    dst = tmp_path / "clamp-rn50-ap10k.pt"
    sha = convert_official(src, "rn50", dst)
    loaded = load_checkpoint(dst)
    assert loaded.sha256 == sha and loaded.manifest.name == "clamp-rn50-ap10k"
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(model(x), loaded.model(x))


def test_convert_names_every_missing_or_misshaped_tensor(tmp_path):
    torch.manual_seed(0)
    model = build_clamp("tiny", MOUSE)
    obj = _official_layout(model)
    src = tmp_path / "broken.pth"
    torch.save(obj, src)
    with pytest.raises(ModelError) as e:
        convert_official(src, "rn50", tmp_path / "out.pt")  # tiny weights are not RN50's
    msg = str(e.value)
    assert "mis-shaped" in msg and "--debug lists all" in msg and "\n" not in msg
    assert "backbone.conv1.weight" in str(e.value.__cause__)  # every tensor, for --debug
    assert not (tmp_path / "out.pt").exists()


def test_convert_cli_on_bad_input(tmp_path):
    from click.testing import CliRunner

    from wildpose.cli import cli

    src = tmp_path / "x.pth"
    src.write_bytes(b"garbage")
    res = CliRunner().invoke(
        cli, ["convert", str(src), "--arch", "vitb16", "-o", str(tmp_path / "o.pt")]
    )
    assert res.exit_code != 0 and not (tmp_path / "o.pt").exists()


def _tiny_clip_state(image_size: int = 96) -> dict[str, torch.Tensor]:
    """A random CLIP (open_clip) shaped like the tiny architecture, at a smaller input size, as
    a stand-in for OpenAI's checkpoint files."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    torch.manual_seed(1)
    clip = CLIP(
        embed_dim=64,
        vision_cfg=CLIPVisionCfg(
            layers=(1, 1, 1, 1), width=16, image_size=image_size, head_width=128
        ),
        text_cfg=CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=4, layers=2),
        quick_gelu=True,
    )
    return clip.state_dict()


def test_clip_initialisation_maps_and_resizes(tmp_path):
    state = _tiny_clip_state()
    path = tmp_path / "clip.pt"
    torch.save(state, path)
    torch.manual_seed(0)
    model = build_clamp("tiny", MOUSE)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    init_from_clip(model, path)
    after = model.state_dict()
    assert torch.equal(after["backbone.conv1.weight"], state["visual.conv1.weight"])
    assert torch.equal(
        after["text_encoder.token_embedding.weight"], state["token_embedding.weight"]
    )
    assert torch.equal(
        after["text_encoder.positional_embedding"], state["positional_embedding"][:13]
    )
    # the attention-pool grid was 3x3 (96 px) and is resized to the model's 4x4 (128 px)
    pos = after["backbone.attnpool.positional_embedding"]
    assert pos.shape == (17, 512)
    assert torch.equal(pos[0], state["visual.attnpool.positional_embedding"][0])
    # everything outside backbone/text encoder stays fresh
    assert torch.equal(
        after["keypoint_head.final_layer.weight"], before["keypoint_head.final_layer.weight"]
    )
    assert torch.equal(after["contexts"], before["contexts"])


def test_clip_weights_errors(tmp_path):
    model = build_clamp("tiny", MOUSE)
    with pytest.raises(ModelError, match="CLIP weights file not found"):
        init_from_clip(model, tmp_path / "RN50.pt")
    state = _tiny_clip_state()
    state["visual.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(ModelError, match="do not fit"):
        clip_to_clamp(state, model)


def test_clip_tag_offline_is_a_clear_error():
    with pytest.raises(ModelError, match="no CLIP weights"):
        init_from_clip(build_clamp("tiny", MOUSE), None)  # tiny has no CLIP counterpart
    # a paper size asks open_clip for the 'openai' tag; offline (tests) that must fail in one
    # line that says how to give a local file, at once instead of after the downloader's retries
    import time

    start = time.perf_counter()
    with pytest.raises(ModelError, match="downloads are off.*clip_weights") as e:
        init_from_clip(build_clamp("rn50", MOUSE), None)
    assert "\n" not in str(e.value) and time.perf_counter() - start < 10


def test_random_paper_model_for_benchmarks():
    lm = load_model("clamp-vitb16-ap10k", random_weights=True)
    assert lm.model.arch.name == "vitb16" and "random" in lm.source
    assert random_model(lm.manifest, 0).arch.image_size == 256
