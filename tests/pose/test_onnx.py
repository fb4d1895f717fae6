"""ONNX export: onnxruntime's heatmaps equal PyTorch's; dynamic batch; metadata; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from wildpose.cli.export_model import export_model_cmd  # noqa: E402
from wildpose.errors import ConfigError  # noqa: E402
from wildpose.export import OPSET  # noqa: E402
from wildpose.export.onnx import HeatmapNetwork, read_metadata  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """clamp-tiny exported once through the command line."""
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    result = CliRunner().invoke(export_model_cmd, ["clamp-tiny", "--to", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"opset {OPSET}" in result.output
    return out


@pytest.mark.slow  # the export takes ~20-50 s on 2 cores
def test_onnxruntime_heatmaps_equal_torch(exported: Path, tiny_model) -> None:
    sess = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    size = tiny_model.model.arch.image_size
    net = HeatmapNetwork(tiny_model.model).eval()
    for batch in (1, 3):  # exported with an example batch of 2: the batch axis is dynamic
        x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            want = net(x).numpy()
        (got,) = sess.run(["heatmaps"], {"images": x.numpy()})
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@pytest.mark.slow
def test_metadata_describes_the_model(exported: Path, tiny_model) -> None:
    meta = read_metadata(exported)
    m = tiny_model.manifest
    assert meta["opset"] == OPSET and meta["model"] == m.name
    assert meta["keypoints"] == list(m.keypoints)
    assert meta["flip_pairs"] == [list(p) for p in m.flip_pairs]
    assert meta["mean"] == pytest.approx(list(m.mean)) and meta["input_size"][0] > 0
    assert not list(exported.parent.glob(".*partial*"))  # written atomically


def test_help_states_the_opset() -> None:
    result = CliRunner().invoke(export_model_cmd, ["--help"])
    assert result.exit_code == 0 and f"opset {OPSET}" in result.output


@pytest.mark.slow
def test_onnxruntime_backend_predicts_like_torch(exported: Path, tiny_model) -> None:
    from wildpose.pose.predictor import PosePredictor

    kw = {"flip_pairs": tiny_model.manifest.flip_pairs, "device": "cpu"}
    torch_pred = PosePredictor(tiny_model.model, precision="fp32", **kw)
    ort_pred = PosePredictor(tiny_model.model, backend="onnxruntime", onnx_path=exported, **kw)
    assert ort_pred.precision_used == "fp32"
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(5))
    want, got = torch_pred.heatmaps(x), ort_pred.heatmaps(x)  # flip test: a batch of 4
    assert (got - want).abs().max() <= 1e-4 * want.abs().max()
    with pytest.raises(ConfigError, match="CPU only"):
        PosePredictor(tiny_model.model, backend="onnxruntime", device="meta")


def test_track_with_the_onnxruntime_backend(tmp_path, monkeypatch, capsys) -> None:
    """``wildpose track --backend onnxruntime``: the model is exported once into the cache,
    run.json says what ran, and the keypoints equal the torch fp32 run's."""
    import pandas as pd

    from wildpose.cli import main
    from wildpose.synthetic import write_synthetic_video

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    video = tmp_path / "v.mp4"
    write_synthetic_video(video, n_frames=8, size=(160, 128), fps=25.0, n_animals=1)
    common = ["track", str(video), "--pose", "clamp-tiny", "--detector", "full-frame", "-q",
              "--smooth", "none", "--format", "csv"]  # fmt: skip
    tables = {}
    for backend, extra in (("onnxruntime", []), ("torch", ["--precision", "fp32"])):
        out = tmp_path / backend
        with pytest.raises(SystemExit) as e:
            main([*common, "--backend", backend, "-o", str(out), *extra])
        assert e.value.code == 0, capsys.readouterr().err
        record = json.loads((out / "v.run.json").read_text())
        assert record["pose_backend"] == backend and record["precision"] == "fp32"
        assert record["config"]["pose"]["backend"] == backend
        tables[backend] = pd.read_csv(out / "v.tracks.csv")
    assert len(list((tmp_path / "cache" / "wildpose" / "onnx").glob("*.onnx"))) == 1
    ort_t, torch_t = tables["onnxruntime"], tables["torch"]
    assert len(ort_t) == len(torch_t) == 8 * 17
    np.testing.assert_allclose(ort_t[["x", "y"]], torch_t[["x", "y"]], atol=0.05)
    np.testing.assert_allclose(ort_t["score"], torch_t["score"], atol=1e-4)


def test_onnxruntime_backend_refuses_a_gpu_in_one_line(tmp_path, capsys) -> None:
    from wildpose.cli import main

    with pytest.raises(SystemExit) as e:
        main(["track", str(tmp_path / "missing.mp4"), "--pose", "clamp-tiny", "--backend",
              "onnxruntime", "--device", "cuda", "--detector", "full-frame", "-o",
              str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and "CPU only" in err
