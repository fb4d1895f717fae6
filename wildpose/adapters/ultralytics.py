"""The one place that touches ultralytics internals and version-fragile API.

Tested with ultralytics 8.4.x (8.4.190); ``pyproject.toml`` bounds it below 8.5 and
``tests/adapters/test_ultralytics.py`` fails with a clear message when a shape used here changes.
Nothing here imports ultralytics at module import: :func:`import_ultralytics` does, on first use.

What is fragile, and what this module does about it:

- Environment read once, at ultralytics' first import: ``YOLO_OFFLINE`` (no connectivity probe,
  telemetry or update check), ``YOLO_AUTOINSTALL`` (never pip-install a missing optional
  package) and ``YOLO_VERBOSE``; :func:`import_ultralytics` sets them first.
- ``ultralytics.cfg.DEFAULT_CFG_DICT`` and ``get_cfg``: the names and types of the arguments
  (https://docs.ultralytics.com/usage/cfg/); 8.4 replaced ``half=True`` by ``quantize="fp16"``
  (:func:`fp16_arguments`).
- ``select_device`` sets torch to ``cpu_count - 1`` threads on the CPU, which would slow a pose
  model sharing the process: :func:`keep_torch_threads`.
- Training reaches the network from ``check_font`` (dataset check), ``check_amp`` (downloads
  weights on CUDA) and the hub/logger integration callbacks: :func:`offline_ultralytics`
  replaces them for the duration of a run; :func:`fit` reads the run's weights and metrics.
- ``.pt`` checkpoints are pickles, and ultralytics loads them with
  ``torch.load(weights_only=False)`` by default: a malicious file runs code. Its opt-in
  restricted loading (``ULTRALYTICS_SAFE_LOAD``: ``weights_only=True`` against an allow-list of
  model classes, model YAML activations parsed without ``eval``) is switched on by
  :func:`import_ultralytics`, and :func:`check_weights` refuses, with one line, a checkpoint that
  references anything but model classes and plain data before ultralytics opens it.
- Models: ``YOLO(path)`` loads weights or a YAML (:func:`load_model`); class names live on the
  inner module (:func:`set_class_names`); ``predict`` reads numpy images as BGR and returns
  ``Results.boxes`` (:func:`predict_boxes` takes RGB and returns numpy arrays).
- ``ultralytics.utils.downloads.attempt_download_asset``: release assets for
  ``wildpose models pull`` (:func:`download_release_asset`).
- ``ultralytics.utils.patches`` replaces ``PIL.Image.open`` process-wide on import with a
  wrapper that, on an unidentifiable file, tries to load the optional HEIF plugin and fails with
  ImportError instead of PIL's own error: :func:`pil_image_open` is PIL's own.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from wildpose.errors import ConfigError, ModelError
from wildpose.messages import display_path

if TYPE_CHECKING:
    from PIL import Image

TESTED_VERSIONS = ">=8.3,<8.5"  # as in pyproject.toml; the tests run on 8.4.x

# (module, function) replaced by offline_ultralytics, and what stands in for each while training
OFFLINE_PATCHES: tuple[tuple[str, str], ...] = (
    ("ultralytics.data.utils", "check_font"),  # no plots are drawn, so no font is needed
    ("ultralytics.engine.trainer", "check_amp"),  # AMP is trusted on CUDA
    ("ultralytics.utils.callbacks", "add_integration_callbacks"),  # hub, telemetry, loggers
)
_STAND_INS: dict[str, Any] = {
    "check_font": lambda *a, **k: None,
    "check_amp": lambda *a, **k: True,
    "add_integration_callbacks": lambda *a, **k: None,
}

# validation metrics of a detection run, by the names the train-detector report uses
METRIC_KEYS: dict[str, str] = {
    "mAP50": "metrics/mAP50(B)",
    "mAP50-95": "metrics/mAP50-95(B)",
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
}


def import_ultralytics() -> ModuleType:
    """The ``ultralytics`` module, imported offline, never auto-installing, quiet by default,
    loading checkpoints only in its restricted (``weights_only``) mode."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import ultralytics
    import ultralytics.nn.tasks
    import ultralytics.utils

    # The flag is read once at import; set it on the modules that consult it in case
    # ultralytics was imported before this function ran.
    ultralytics.utils.SAFE_LOAD = True
    ultralytics.nn.tasks.SAFE_LOAD = True
    return ultralytics


# ---------------------------------------------------------------------------------------------
# safe checkpoints

PICKLED_SUFFIXES = (".pt", ".pth")
# Plain data an ultralytics checkpoint pickles besides model classes (found by listing the
# globals of yolo11n and train-detector checkpoints, and ultralytics' own restricted-load list).
DATA_GLOBALS = frozenset(
    {
        "builtins.getattr",  # ultralytics' restricted load limits it to nn.Module attributes
        "builtins.set",
        "collections.OrderedDict",
        "numpy.dtype",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib._local.PosixPath",
        "pathlib._local.WindowsPath",
        "ultralytics.utils.IterableSimpleNamespace",
        "ultralytics.yolo.utils.IterableSimpleNamespace",
        "ultralytics.utils.loss.v10DetectLoss",
        "ultralytics.nn.tasks.YOLOv10DetectionModel",
    }
)
_MODULE_PACKAGES = ("torch.nn.modules.", "ultralytics.nn.")  # where model classes live


def check_weights(path: str | Path) -> None:
    """Refuse a pickled checkpoint (``.pt``) that would do more than build a model.

    Lists the globals the checkpoint's pickle references without running it
    (``torch.serialization.get_unsafe_globals_in_checkpoint``, torch >= 2.6) and raises
    ModelError, one line naming the file and the first offending global, unless each is a
    ``torch.nn`` / ``ultralytics.nn`` module class or plain data (:data:`DATA_GLOBALS`). Files
    that are not torch zip archives are refused too. Other formats (ONNX, TensorRT, ...) are not
    pickles and pass.
    """
    path = Path(path)
    if path.suffix.lower() not in PICKLED_SUFFIXES or not path.is_file():
        return
    import zipfile

    import torch

    where = display_path(path)
    scan = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if scan is None:
        raise ModelError(
            f"loading .pt detector weights safely needs torch >= 2.6 (installed "
            f"{torch.__version__}); upgrade torch or export the detector to ONNX",
            path=where,
        )
    if not zipfile.is_zipfile(path):
        raise ModelError(
            "cannot load detector weights: not a torch checkpoint archive (torch.save since "
            "torch 1.6); refusing to unpickle it, as a pickle can run code",
            path=where,
        )
    try:
        names = scan(str(path))
    except Exception as e:  # noqa: BLE001 - a damaged archive; torch raises several types
        why = f"cannot load detector weights: {type(e).__name__}: {e}"
        raise ModelError(why, path=where) from e
    unsafe = [name for name in names if not _is_model_global(name)]
    if unsafe:
        raise ModelError(
            f"refusing to load detector weights: unpickling them would call {unsafe[0]}, which "
            "is not part of an ultralytics model (a .pt file can run code when loaded)",
            path=where,
        )


def _is_model_global(name: str) -> bool:
    """Whether ``name`` (``module.Qualname``) is plain data or a model class of torch.nn or
    ultralytics.nn (importing only those packages' own modules)."""
    if name in DATA_GLOBALS or (name.startswith("numpy.dtypes.") and name.endswith("DType")):
        return True
    module, _, attr = name.rpartition(".")
    if not name.startswith(_MODULE_PACKAGES) or not attr.isidentifier():
        return False
    import torch

    try:
        obj = getattr(importlib.import_module(module), attr, None)
    except ImportError:
        return False
    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


# ---------------------------------------------------------------------------------------------
# models and inference


def load_model(path: str | Path, *, task: str | None = None) -> Any:
    """``ultralytics.YOLO`` for a weights file or model YAML (RT-DETR checkpoints included).

    ModelError for a ``.pt`` that :func:`check_weights` refuses; otherwise raises whatever
    ultralytics raises for a missing, corrupt or foreign file.
    """
    ultralytics = import_ultralytics()
    check_weights(path)
    return ultralytics.YOLO(str(path), task=task, verbose=False)


def class_names(model: Any) -> dict[int, str]:
    """The model's class names by class id."""
    return dict(model.names)


def set_class_names(model: Any, names: Mapping[int, str]) -> None:
    """Rename the classes of a model built from a YAML (ultralytics keeps them on the module)."""
    model.model.names = dict(names)


def trained_imgsz(model: Any) -> int | None:
    """The input size, px, a loaded checkpoint was trained at (None: unknown, e.g. a YAML)."""
    size = (getattr(model, "overrides", None) or {}).get("imgsz")
    return int(size) if size else None


def fp16_arguments() -> dict[str, Any]:
    """The predict argument for fp16 inference: ``quantize="fp16"`` (8.4+) or ``half=True``."""
    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": "fp16"} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def predict_boxes(
    model: Any,
    images: Sequence[np.ndarray],
    *,
    classes: Sequence[int] | None,
    args: Mapping[str, Any],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run ``model.predict`` on one batch of (H, W, 3) uint8 RGB images.

    ``classes``: class ids kept (None: all); ``args``: further predict arguments (``conf``,
    ``iou``, ``imgsz``, ``device``, ``max_det``, see :func:`fp16_arguments`). Returns per image
    (xyxy (M, 4) float32 image px, score (M,) float32, class id (M,) int64). The inputs are
    not modified; torch's thread count is kept.
    """
    if not images:
        return []
    bgr = [np.ascontiguousarray(image[..., ::-1]) for image in images]  # ultralytics: cv2 order
    with keep_torch_threads():
        results = model.predict(bgr, classes=classes, verbose=False, stream=False, **args)
    out = []
    for result in results:
        boxes = result.boxes
        out.append(
            (
                boxes.xyxy.cpu().numpy().astype(np.float32),
                boxes.conf.cpu().numpy().astype(np.float32),
                boxes.cls.cpu().numpy().astype(np.int64),
            )
        )
    return out


@contextlib.contextmanager
def keep_torch_threads() -> Iterator[int]:
    """Restore torch's CPU thread count after the block (ultralytics' ``select_device`` sets it
    to ``cpu_count - 1``: 1 thread on a 2-core machine). Yields the count kept."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# training


def known_train_arguments() -> frozenset[str]:
    """Names ultralytics accepts as arguments (the keys of its default configuration)."""
    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return frozenset(DEFAULT_CFG_DICT)


def check_train_arguments(args: Mapping[str, Any]) -> None:
    """ConfigError unless ultralytics accepts ``args`` (names and value types)."""
    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT, get_cfg

    try:
        get_cfg(DEFAULT_CFG_DICT, dict(args))
    except (SyntaxError, TypeError, ValueError) as exc:
        why = " ".join(str(exc).split())
        raise ConfigError(f"ultralytics rejected the training arguments: {why}") from None


def is_bundled_model_yaml(name: str) -> bool:
    """Whether ``name`` (``yolo11n.yaml``) is a model YAML shipped with ultralytics; looks in
    ultralytics' ``cfg/models`` only, never online."""
    import_ultralytics()
    from ultralytics.nn.tasks import yaml_model_load

    try:
        yaml_model_load(name)
    except (FileNotFoundError, OSError, ValueError):
        return False
    return True


@contextlib.contextmanager
def offline_ultralytics() -> Iterator[ModuleType]:
    """Ultralytics with nothing that reaches the network, for the duration of the block.

    Replaces (and restores afterwards) the functions of :data:`OFFLINE_PATCHES`: the font check
    of every dataset check (a download when Arial.ttf is not cached), the CUDA AMP check
    (downloads weights; AMP is kept on) and the integration callbacks (hub, telemetry,
    loggers). Yields the ``ultralytics`` module.
    """
    ultralytics = import_ultralytics()
    saved = []
    for module, name in OFFLINE_PATCHES:
        mod = importlib.import_module(module)
        saved.append((mod, name, getattr(mod, name)))
    try:
        for mod, name, _ in saved:
            setattr(mod, name, _STAND_INS[name])
        yield ultralytics
    finally:
        for mod, name, value in saved:
            setattr(mod, name, value)


def fit(
    model: str, args: Mapping[str, Any], threads: int | None = None
) -> tuple[Path, dict[str, float | None]]:
    """Train a detector offline on ``threads`` CPU threads (None: the current count).

    ``model``: a weights file or model YAML; ``args``: ``YOLO.train`` arguments. Returns the
    run's best weights (its last ones when no best was saved) and the final validation metrics
    named as in :data:`METRIC_KEYS` (None where ultralytics reported none).
    """
    import torch

    check_weights(model)
    with offline_ultralytics() as ultralytics, keep_torch_threads() as current:
        threads = threads or current
        torch.set_num_threads(threads)
        yolo = ultralytics.YOLO(model, task="detect")
        # runs right after the trainer's select_device, which lowers the thread count
        yolo.add_callback("on_pretrain_routine_start", lambda _: torch.set_num_threads(threads))
        metrics = yolo.train(**args)
        trainer = yolo.trainer
    best = Path(trainer.best if Path(trainer.best).exists() else trainer.last)
    values = getattr(metrics, "results_dict", None) or dict(trainer.metrics or {})
    named = {name: values.get(key) for name, key in METRIC_KEYS.items()}
    return best, {name: None if v is None else float(v) for name, v in named.items()}


def download_release_asset(path: str | Path, *, progress: bool) -> Path:
    """Fetch the ultralytics release asset named ``path.name`` (``yolo11n.pt``) to ``path``
    (github.com/ultralytics/assets releases); returns where ultralytics put it. The one call of
    wildpose that reaches the network through ultralytics: ``wildpose models pull`` only."""
    import_ultralytics()
    from ultralytics.utils.downloads import attempt_download_asset

    return Path(attempt_download_asset(str(path), progress=progress))


# ---------------------------------------------------------------------------------------------
# PIL


def pil_image_open(fp: str | Path | IO[bytes]) -> Image.Image:
    """PIL's own ``Image.open``, also after importing ultralytics replaced it.

    Ultralytics' replacement retries an unidentifiable file with the optional HEIF plugin and,
    where that is not installed, fails with ImportError instead of PIL's
    ``UnidentifiedImageError`` ("cannot identify image file").
    """
    from PIL import Image

    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)(fp)
