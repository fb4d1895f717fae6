"""SHIM: the training recipes moved to :mod:`wildpose.config.train`."""

from wildpose.config.train import *  # noqa: F403  SHIM: removed at integration
from wildpose.config.train import (  # noqa: F401  SHIM: removed at integration
    CLIP_SOURCES,
    DataConfig,
    EvalConfig,
    KeyRule,
    LoopConfig,
    Metric,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
