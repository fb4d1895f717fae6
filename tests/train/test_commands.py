"""`wildpose train` and `wildpose eval` through click, through main() and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import synth
from click.testing import CliRunner

from wildpose.cli import cli, main
from wildpose.cli.train import eval_cmd, train_cmd
from wildpose.pose.checkpoint import load_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cmd")
    ann, images = synth.write_coco(root, n_images=4, seed=6)
    data = {"train_annotations": str(ann), "train_images": str(images), "n_val": 1}
    recipe = synth.write_recipe(root / "recipe.yaml", data, schedule={"epochs": 1})
    return {"root": root, "ann": ann, "images": images, "recipe": recipe}


@pytest.fixture(scope="module")
def trained(dataset: dict[str, Path]) -> Path:
    work = dataset["root"] / "work"
    result = CliRunner().invoke(
        cli, ["train", str(dataset["recipe"]), "--work-dir", str(work), "--set", "optim.lr=1e-3"]
    )
    assert result.exit_code == 0, result.output
    assert f"best checkpoint: {work / 'best.pt'}" in result.output
    return work


def test_commands_are_registered() -> None:
    assert cli.commands["train"] is train_cmd and cli.commands["eval"] is eval_cmd


def test_train_writes_a_usable_work_dir(trained: Path) -> None:
    assert {"config.yaml", "log.jsonl", "best.pt", "last.pt"} <= {p.name for p in trained.iterdir()}
    loaded = load_model(trained / "best.pt")
    assert loaded.train_config["optim"]["lr"] == 1e-3  # the --set value is in the checkpoint
    assert loaded.manifest.keypoints == synth.NAMES
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in log if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1]  # the recipe's one epoch
    assert all(isinstance(r["loss"], float) and 0 < r["loss"] < 1e6 for r in epochs), epochs


def test_eval_command(trained: Path, dataset: dict[str, Path], tmp_path: Path) -> None:
    metrics, preds = tmp_path / "m.json", tmp_path / "p.json"
    args = [
        "eval",
        str(trained / "best.pt"),
        str(dataset["ann"]),
        str(dataset["images"]),
        "--no-flip-test",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--json",
        str(metrics),
        "--predictions",
        str(preds),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "AP " in result.output and "PCK@0.1" in result.output and "RMSE" in result.output
    report = json.loads(metrics.read_text())
    assert report["flip_test"] is False and report["metrics"]["instances"] == 4
    # the reported errors are those of the written predictions (one animal per image)
    gt = {a["image_id"]: a for a in json.loads(dataset["ann"].read_text())["annotations"]}
    results = json.loads(preds.read_text())
    assert sorted(r["image_id"] for r in results) == sorted(gt)
    pred = np.stack([np.reshape(r["keypoints"], (-1, 3))[:, :2] for r in results])
    true = np.stack([np.reshape(gt[r["image_id"]]["keypoints"], (-1, 3)) for r in results])
    norm = np.array([max(gt[r["image_id"]]["bbox"][2:]) - 1 for r in results])  # mmpose: w - 1
    assert pred.shape == (4, len(synth.NAMES), 2) and np.isfinite(pred).all()
    dist, visible = np.linalg.norm(pred - true[..., :2], axis=-1), true[..., 2] > 0
    m = report["metrics"]
    assert m["RMSE"] == pytest.approx(np.sqrt(np.mean(dist[visible] ** 2)), rel=1e-4)
    hits = np.where(visible, dist / norm[:, None] < 0.2, np.nan)  # (N, K)
    assert m["PCK@0.2"] == pytest.approx(np.nanmean(np.nanmean(hits, axis=0)), abs=1e-6)
    assert all(0 <= m[k] <= 1 for k in ("AP", "AP50", "AR")) and m["AP50"] >= m["AP"]


def test_eval_with_the_onnxruntime_backend_matches_torch(
    trained: Path, dataset: dict[str, Path], tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    reports = {}
    for backend, precision in (("torch", "fp32"), ("onnxruntime", "auto")):
        out = tmp_path / f"{backend}.json"
        args = ["eval", str(trained / "best.pt"), str(dataset["ann"]), str(dataset["images"]),
                "--device", "cpu", "--workers", "0", "--backend", backend, "--precision",
                precision, "--json", str(out)]  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        reports[backend] = json.loads(out.read_text())
    assert reports["onnxruntime"]["backend"] == "onnxruntime"
    assert reports["onnxruntime"]["precision"] == "fp32"  # what onnxruntime runs
    ours, ref = reports["onnxruntime"]["metrics"], reports["torch"]["metrics"]
    assert ours["RMSE"] == pytest.approx(ref["RMSE"], abs=1e-3)
    assert ours["AP"] == pytest.approx(ref["AP"], abs=1e-6)


def run_main(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code), capsys.readouterr().err


def test_config_errors_exit_2_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {kind: coco}\nmodle: {}\n")
    code, err = run_main(["train", str(bad), "--work-dir", str(tmp_path / "w")], capsys)
    assert code == 2 and err.count("\n") == 1 and "modle" in err and str(bad) in err
    good = synth.write_recipe(
        tmp_path / "r.yaml", {"train_annotations": "a.json", "train_images": "."}
    )
    code, err = run_main(["train", str(good), "--set", "optim.lr=fast"], capsys)
    assert code == 2 and "optim.lr" in err and err.count("\n") == 1
    assert not (tmp_path / "w").exists()


def test_data_errors_exit_1_in_one_line(tmp_path: Path, capsys, dataset) -> None:
    missing = synth.write_recipe(
        tmp_path / "r.yaml", {"train_annotations": "absent.json", "train_images": "."}
    )
    code, err = run_main(["train", str(missing), "--work-dir", str(tmp_path / "w")], capsys)
    assert code == 1 and err.count("\n") == 1 and str(tmp_path / "absent.json") in err
    code, err = run_main(
        ["eval", "clamp-tiny", str(dataset["ann"]), str(dataset["images"]), "--device", "cpu"],
        capsys,
    )
    assert code == 2 and "keypoints" in err and err.count("\n") == 1


def test_train_as_a_subprocess(dataset: dict[str, Path], tmp_path: Path) -> None:
    work = tmp_path / "work"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wildpose",
            "train",
            str(dataset["recipe"]),
            "--work-dir",
            str(work),
            "--set",
            "train.log_every=2",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (work / "best.pt").is_file() and "best checkpoint" in proc.stdout
