"""The ultralytics shapes wildpose.adapters.ultralytics relies on: each failure names what moved.

When one of these fails after an ultralytics upgrade, update the adapter (and its upper bound in
pyproject.toml), not the callers.
"""

from __future__ import annotations

import inspect
import os
import sys
from importlib import import_module
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from packaging.specifiers import SpecifierSet

from wildpose.adapters import ultralytics as adapter
from wildpose.config.detector import DetectorTrainConfig
from wildpose.errors import ConfigError
from wildpose.train.detector_train import train_arguments

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PREDICT_KEYS = {"conf", "iou", "imgsz", "device", "max_det", "classes", "verbose"}


@pytest.fixture(scope="module")
def ultralytics():
    return adapter.import_ultralytics()


def test_installed_version_is_a_tested_one(ultralytics) -> None:
    installed = version("ultralytics")
    assert installed in SpecifierSet(adapter.TESTED_VERSIONS), (
        f"ultralytics {installed} is outside {adapter.TESTED_VERSIONS}, the versions "
        "wildpose.adapters.ultralytics is tested with: run tests/adapters, then widen the bound"
    )


def test_pyproject_bound_is_the_tested_range() -> None:
    tomllib = pytest.importorskip("tomllib")
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (spec,) = [d for d in deps if d.startswith("ultralytics")]
    assert SpecifierSet(spec.removeprefix("ultralytics")) == SpecifierSet(
        adapter.TESTED_VERSIONS
    ), f"pyproject.toml says {spec!r}, the adapter is tested with {adapter.TESTED_VERSIONS}"


def test_default_cfg_has_every_argument_we_pass(ultralytics) -> None:
    known = adapter.known_train_arguments()
    cfg = DetectorTrainConfig(device="cpu")
    used = set(train_arguments(cfg, Path("data.yaml"), Path("out"))) | PREDICT_KEYS
    missing = sorted(used - known)
    assert not missing, f"ultralytics.cfg.DEFAULT_CFG_DICT lacks {missing}: arguments renamed?"
    assert {"quantize", "half"} & known, "neither 'quantize' nor 'half' selects fp16 any more"
    assert set(adapter.fp16_arguments()) <= known
    predict = inspect.signature(ultralytics.YOLO.predict).parameters
    assert "source" in predict and "stream" in predict, f"YOLO.predict{list(predict)} changed"


def test_get_cfg_checks_names_and_types(ultralytics) -> None:
    from ultralytics.cfg import get_cfg

    params = list(inspect.signature(get_cfg).parameters)
    assert params[:2] == ["cfg", "overrides"], f"ultralytics.cfg.get_cfg{params}: call changed"
    adapter.check_train_arguments({"epochs": 2, "flipud": 0.5})
    with pytest.raises(ConfigError, match="nosuchthing"):
        adapter.check_train_arguments({"nosuchthing": 1})
    with pytest.raises(ConfigError, match="epochs"):
        adapter.check_train_arguments({"epochs": "many"})


@pytest.mark.parametrize(("module", "name"), adapter.OFFLINE_PATCHES)
def test_patched_functions_exist_where_we_patch_them(ultralytics, module: str, name: str) -> None:
    mod = import_module(module)
    assert callable(getattr(mod, name, None)), (
        f"{module}.{name} is gone: offline_ultralytics patches nothing, training may go online"
    )


def test_patched_functions_are_looked_up_in_those_modules(ultralytics) -> None:
    """A patch only works if the caller reads the name from the patched module at call time."""
    import ultralytics.data.utils as data_utils
    import ultralytics.engine.trainer as trainer
    import ultralytics.utils.callbacks as callbacks

    assert "check_font(" in inspect.getsource(data_utils.check_det_dataset), (
        "check_det_dataset no longer calls data.utils.check_font: font download unpatched"
    )
    source = inspect.getsource(trainer)
    assert "check_amp(" in source, "the trainer no longer calls check_amp from its module"
    assert "callbacks.add_integration_callbacks(" in source and trainer.callbacks is callbacks, (
        "the trainer no longer calls ultralytics.utils.callbacks.add_integration_callbacks"
    )
    init = inspect.getsource(trainer.BaseTrainer.__init__)
    assert "self.best" in init and "self.last" in init, "trainer.best / trainer.last moved"


def test_offline_patches_are_undone(ultralytics) -> None:
    def current() -> list:
        return [getattr(import_module(module), name) for module, name in adapter.OFFLINE_PATCHES]

    before = current()
    with adapter.offline_ultralytics():
        during = current()
    assert all(d is not b for d, b in zip(during, before, strict=True)) and current() == before


def test_training_callback_event_exists(ultralytics) -> None:
    from ultralytics.utils.callbacks import default_callbacks

    assert "on_pretrain_routine_start" in default_callbacks, (
        "event on_pretrain_routine_start is gone: fit() cannot restore torch's threads"
    )


def test_release_asset_download_takes_our_arguments(ultralytics) -> None:
    from ultralytics.utils.downloads import attempt_download_asset, safe_download

    params = inspect.signature(attempt_download_asset).parameters
    passes_on = "progress" in params or "kwargs" in params  # to safe_download
    assert "file" in params and passes_on, (
        f"ultralytics.utils.downloads.attempt_download_asset{list(params)} changed"
    )
    assert "progress" in inspect.signature(safe_download).parameters


def test_bundled_model_yaml_lookup(ultralytics) -> None:
    assert adapter.is_bundled_model_yaml("yolo11n.yaml")
    assert not adapter.is_bundled_model_yaml("nosuch.yaml")


def test_model_from_yaml_predicts_boxes(ultralytics) -> None:
    model = adapter.load_model("yolo11n.yaml")
    assert adapter.trained_imgsz(model) is None  # a YAML records no training size
    names = adapter.class_names(model)
    assert len(names) == 80 and all(isinstance(k, int) for k in names)
    adapter.set_class_names(model, {i: f"c{i}" for i in range(80)})
    assert adapter.class_names(model)[3] == "c3", "model.model.names no longer renames classes"
    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    (out,) = adapter.predict_boxes(
        model, [image], classes=None, args=dict(conf=0.0, imgsz=64, device="cpu", max_det=5)
    )
    xyxy, score, cls = out
    assert xyxy.shape == (len(score), 4) and 0 < len(score) <= 5
    assert xyxy.dtype == np.float32 and score.dtype == np.float32 and cls.dtype == np.int64
    assert adapter.predict_boxes(model, [], classes=None, args={}) == []


def test_pil_open_is_pil_s_own_after_the_patch(tmp_path: Path) -> None:
    import ultralytics.utils.patches as patches
    from PIL import Image

    if Image.open.__module__ != "PIL.Image":  # ultralytics replaced it
        original = getattr(patches, "_image_open", None)
        assert getattr(original, "__module__", None) == "PIL.Image", (
            "ultralytics.utils.patches replaces PIL.Image.open but no longer keeps PIL's own as "
            "_image_open: update adapters.ultralytics.pil_image_open"
        )
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(Image.UnidentifiedImageError):
        adapter.pil_image_open(bad)
    assert "ultralytics.utils.patches" in sys.modules


def test_restricted_loading_is_on(ultralytics) -> None:
    """The switch import_ultralytics turns on: restricted (weights_only) checkpoint loading."""
    from ultralytics.nn import tasks

    assert tasks._SafeLoad.SUPPORTED, "ultralytics' restricted loading needs torch >= 2.6"
    assert tasks.SAFE_LOAD is True, "ultralytics.nn.tasks.SAFE_LOAD no longer selects safe loads"
    source = inspect.getsource(tasks.torch_safe_load)
    assert "safe_only = SAFE_LOAD" in source and "weights_only=True" in source, (
        "torch_safe_load no longer reads SAFE_LOAD: .pt files may load with weights_only=False"
    )
    assert "_SafeLoad.restricted()" in inspect.getsource(tasks), "YAML activations may be eval'd"


def test_a_real_checkpoint_passes_the_check_and_loads(ultralytics, tmp_path: Path) -> None:
    """The allow-list fits what ultralytics pickles: a YOLO11 checkpoint saved by ultralytics."""
    path = tmp_path / "y.pt"
    adapter.load_model("yolo11n.yaml").save(path)
    adapter.check_weights(path)
    model = adapter.load_model(path)
    assert len(adapter.class_names(model)) == 80


def test_ultralytics_itself_refuses_a_malicious_checkpoint(ultralytics, tmp_path: Path) -> None:
    """Defence in depth: past check_weights, ultralytics' restricted load refuses the pickle."""
    import torch

    target = tmp_path / "created"

    class WritesFile:
        def __reduce__(self):
            return (os.system, (f"touch {target}",))

    path = tmp_path / "evil.pt"
    torch.save({"model": WritesFile()}, path)
    with pytest.raises(Exception, match="outside the supported Ultralytics checkpoint format"):
        ultralytics.YOLO(str(path))
    assert not target.exists()
