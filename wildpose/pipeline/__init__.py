"""The tracking pipeline: stages built once per run, and one input streamed through them.

``Stages.build(config)`` loads the pose model and turns the run config into typed stage
options once; ``track_video(source, out_dir, stages)`` streams one input through decode ->
detect -> pose -> track -> smooth -> the writers and commits its outputs with ``STEM.run.json``.
"""

from wildpose.pipeline.run import TrackResult, output_stem, track_video
from wildpose.pipeline.stages import Stages

__all__ = ["Stages", "TrackResult", "output_stem", "track_video"]
