"""Issue 10, checkpoints and model addresses: every bad field is one line naming the file and
the field; damaged tensor data and non-finite weights are refused; hf:// addresses are checked by
wildpose; a wrong file given to convert gives a short message (the full list with --debug)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from wildpose.cli import cli, main
from wildpose.errors import ModelError
from wildpose.pose.checkpoint import load_checkpoint, load_model, save_checkpoint
from wildpose.pose.manifest import Manifest
from wildpose.pose.model import build_clamp

NAMES = ("snout", "left ear", "right ear")


def _saved(tmp_path, name="m.pt"):
    torch.manual_seed(0)
    manifest = Manifest(name="t", arch="tiny", keypoints=NAMES, input_size=(128, 128))
    path = tmp_path / name
    save_checkpoint(path, build_clamp("tiny", NAMES).eval(), manifest)
    return path


def _rewrite(path, change):
    obj = torch.load(path, weights_only=True)
    change(obj)
    torch.save(obj, path)


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda o: o.pop("arch"), "'arch' is missing"),
        (lambda o: o.__setitem__("arch", "tiny"), "'arch' must be a mapping"),
        (lambda o: o["arch"].pop("backbone"), "field 'arch'"),
        (lambda o: o.pop("manifest"), "'manifest' is missing"),
        (lambda o: o["manifest"].pop("keypoints"), "field 'manifest'"),
        (lambda o: o.__setitem__("state_dict", [1, 2]), "'state_dict' must be a mapping"),
        (lambda o: o["state_dict"].__setitem__("x", 3), "must map names to tensors"),
        (lambda o: o.__setitem__("format_version", "one"), "'format_version' must be a whole"),
        (lambda o: o.__setitem__("train_config", 5), "'train_config' must be a mapping"),
    ],
)
def test_bad_fields_are_one_line_naming_the_field(tmp_path, change, field):
    path = _saved(tmp_path)
    _rewrite(path, change)
    with pytest.raises(ModelError) as e:
        load_checkpoint(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and field in msg, msg


def test_bad_field_through_the_cli_exits_2(tmp_path, capsys):
    path = _saved(tmp_path)
    _rewrite(path, lambda o: o.pop("arch"))
    video = tmp_path / "v.mp4"
    from wildpose.synthetic import write_synthetic_video

    write_synthetic_video(video, n_frames=2, size=(64, 48))
    with pytest.raises(SystemExit) as e:
        main(["track", str(video), "--pose", str(path), "--detector", "full-frame"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "'arch' is missing" in err


def _largest_tensor_bytes(path) -> tuple[int, int]:
    """(offset, length) of the largest tensor's data inside the checkpoint's zip."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        n, m = np.frombuffer(f.read(4), "<u2")
    return info.header_offset + 30 + int(n) + int(m), info.file_size


def test_garbage_in_tensor_data_is_refused(tmp_path):
    path = _saved(tmp_path)
    offset, length = _largest_tensor_bytes(path)
    assert length > 8192
    with open(path, "r+b") as f:  # 4 KB of garbage in the middle of the weights
        f.seek(offset + length // 2)
        f.write(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelError, match="do not match the sha256") as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)


def test_non_finite_weights_are_refused(tmp_path):
    torch.manual_seed(0)
    model = build_clamp("tiny", NAMES).eval()
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() > 1)[0].view(-1)[0] = float("nan")
    manifest = Manifest(name="t", arch="tiny", keypoints=NAMES, input_size=(128, 128))
    save_checkpoint(tmp_path / "nan.pt", model, manifest)
    with pytest.raises(ModelError, match="NaN or infinite"):
        load_checkpoint(tmp_path / "nan.pt")


def test_checkpoints_without_a_recorded_sha256_still_load(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda o: o.pop("weights_sha256"))
    assert load_checkpoint(path).manifest.keypoints == NAMES


@pytest.mark.parametrize(
    "spec",
    ["hf://org/repo/../../etc/passwd", "hf:///abs/path.pt", "hf://org/repo", "hf://o/r/a\\b.pt"],
)
def test_hf_addresses_are_checked_by_wildpose(spec, monkeypatch):
    import huggingface_hub

    def never(*a, **k):  # the check happens before huggingface_hub is asked
        raise AssertionError("huggingface_hub was called")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", never)
    with pytest.raises(ModelError) as e:
        load_model(spec)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(spec)


def test_convert_of_a_wrong_checkpoint_is_short_and_debug_lists_all(tmp_path):
    src = tmp_path / "other.pth"
    torch.save({"state_dict": {f"layer{i}.weight": torch.zeros(2) for i in range(400)}}, src)
    args = ["convert", str(src), "--arch", "vitb16", "-o", str(tmp_path / "o.pt")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    with pytest.raises(SystemExit):
        main(args)
    import io
    import sys

    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        with pytest.raises(SystemExit) as e:
            main(args)
        short = err.getvalue()
        err.truncate(0)
        err.seek(0)
        with pytest.raises(SystemExit):
            main(["--debug", *args])
        debug = err.getvalue()
    finally:
        sys.stderr = old
    assert e.value.code == 2 and short.count("\n") == 1 and len(short) < 1000, short
    assert "more; --debug lists all" in short
    assert len(debug) > 10 * len(short)  # every missing tensor named with --debug
    assert not (tmp_path / "o.pt").exists()
