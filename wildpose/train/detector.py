"""SHIM: removed at integration; the code lives in yolo_dataset, detector_eval, detector_train,
wildpose.config.detector and wildpose.adapters.ultralytics."""

from wildpose.adapters.ultralytics import (
    check_train_arguments,
    import_ultralytics,
    keep_torch_threads,
    known_train_arguments,
    offline_ultralytics,
)
from wildpose.config.detector import DetectorTrainConfig
from wildpose.train.detector_eval import greedy_matches, heldout_detection
from wildpose.train.detector_train import (
    DATASET_DIR,
    REPORT_NAME,
    RUN_NAME,
    DetectorTrainResult,
    resolve_model,
    train_arguments,
    train_detector,
    ultralytics_device,
)
from wildpose.train.yolo_dataset import (
    SINGLE_CLASS,
    YoloDataset,
    class_map,
    load_keypoint_data,
    write_yolo_dataset,
    yolo_labels,
)

__all__ = [
    "DATASET_DIR",
    "REPORT_NAME",
    "RUN_NAME",
    "SINGLE_CLASS",
    "DetectorTrainConfig",
    "DetectorTrainResult",
    "YoloDataset",
    "check_train_arguments",
    "class_map",
    "greedy_matches",
    "heldout_detection",
    "import_ultralytics",
    "keep_torch_threads",
    "known_train_arguments",
    "load_keypoint_data",
    "offline_ultralytics",
    "resolve_model",
    "train_arguments",
    "train_detector",
    "ultralytics_device",
    "write_yolo_dataset",
    "yolo_labels",
]
