"""What a run builds once from its config and reuses for every input: :class:`Stages`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from wildpose.config import RunConfig, SmoothConfig
from wildpose.detect import Detector, DetectorOptions, build_detector
from wildpose.hub import ensure_model
from wildpose.pose.checkpoint import LoadedModel, load_model
from wildpose.pose.predictor import PosePredictor
from wildpose.smooth import KalmanParams, SmootherParams, TrackSmoother
from wildpose.track import FixedIdTracker, Tracker

__all__ = ["Stages", "smoother_params"]


def smoother_params(s: SmoothConfig) -> SmootherParams:
    """The smoothing section of a run config as :class:`SmootherParams` (unset values take the
    model's defaults; ``gate: off`` disables gating). Raises ConfigError for bad values."""
    kalman = {
        name: getattr(s, name)
        for name in ("process_noise", "meas_std", "min_score", "gate")
        if getattr(s, name) is not None
    }
    if kalman.get("gate") == "off":
        kalman["gate"] = None
    return SmootherParams(s.mode, s.lag_s, s.max_gap_s, KalmanParams(**kalman))


@dataclass
class Stages:
    """The pose model, its predictor and the typed options of every other stage, built once.

    ``wildpose batch`` builds one and tracks every input with it. The network detector (YOLO,
    MegaDetector) is loaded once and owned here (``detector``), so it goes away with this
    object; box-file detectors belong to one input and are built by :meth:`detector_for` each
    time. Construct with :meth:`build`; constructing directly from a loaded model and predictor
    (benchmarks, tests; ``detector`` given or built from the config on first use) works too.
    """

    config: RunConfig
    loaded: LoadedModel
    predictor: PosePredictor
    detector: Detector | None = field(default=None, repr=False)
    detector_options: DetectorOptions = field(init=False)
    smoother_params: SmootherParams = field(init=False)

    def __post_init__(self) -> None:
        d = self.config.detector
        self.detector_options = DetectorOptions(
            model=d.model,
            classes=tuple(d.classes) if d.classes else None,
            conf=d.conf,
            iou=d.iou,
            imgsz=d.imgsz,
            max_det=d.max_det,
            device=str(self.predictor.device),
            # ultralytics' half precision is fp16: used on CUDA whenever the pose model is not fp32
            half=self.predictor.device.type == "cuda" and self.predictor.precision != "fp32",
        )
        self.smoother_params = smoother_params(self.config.smooth)

    @classmethod
    def build(cls, config: RunConfig) -> Stages:
        """Load the pose model and the network detector; check the other stages' options.

        A known model whose weights are missing is downloaded, verified and installed first
        (:func:`wildpose.hub.ensure_model`) unless ``config.offline`` or the environment says
        offline; the detector spec then names the installed file.

        Raises ConfigError / ModelError (one line) for a bad model, detector or parameter.
        """
        offline = config.offline  # the environment (WILDPOSE_OFFLINE...) is checked by the hub
        pose = ensure_model(config.pose.model, kind="pose", offline=offline)
        detector = ensure_model(config.detector.model, kind="detector", offline=offline)
        stages = cls.around(config, load_model(pose))
        # the installed file; the config keeps the name the user gave (run.json, resume hash)
        stages.detector_options = replace(stages.detector_options, model=detector)
        if not stages.detector_options.per_input:
            stages.detector_for("")
        return stages

    @classmethod
    def around(cls, config: RunConfig, loaded: LoadedModel) -> Stages:
        """Stages around an already loaded model (benchmarks: random weights): the predictor
        as ``config`` sets it; the network detector is built on first use."""
        m = loaded.manifest
        predictor = PosePredictor(
            loaded.model,
            mean=m.mean,
            std=m.std,
            flip_pairs=m.flip_pairs,
            flip_test=config.pose.flip_test,
            device=config.device,
            precision=config.precision,
            padding=config.pose.padding,
            refine=config.pose.refine,
            backend=config.pose.backend,
            fold_batchnorm=True,  # the pipeline's model is only run
        )
        return cls(config, loaded, predictor)

    @property
    def num_keypoints(self) -> int:
        return len(self.loaded.manifest.keypoints)

    def detector_for(self, source: str, image_names: list[str] | None = None) -> Detector:
        """The detector for one input: the shared network detector, or the input's boxes.

        ``source``: the input's label; ``image_names``: per-frame file names of an image
        sequence (MegaDetector JSON box files match frames by them).
        """
        if self.detector_options.per_input:
            return build_detector(self.detector_options, source=source, image_names=image_names)
        if self.detector is None:
            self.detector = build_detector(self.detector_options)
        return self.detector

    def new_tracker(self, fps: float) -> Tracker | FixedIdTracker:
        """A fresh identity tracker for one input of nominal rate ``fps`` (frames/s)."""
        if self.detector_options.model == "full-frame":
            return FixedIdTracker()
        t = self.config.tracker
        return Tracker(
            fps,
            track_activation_threshold=t.activation_threshold,
            lost_track_buffer_s=t.lost_buffer_s,
            minimum_matching_threshold=t.matching_threshold,
        )

    def new_smoother(self) -> TrackSmoother:
        """A fresh per-input smoother."""
        return TrackSmoother(self.num_keypoints, self.smoother_params)
