r"""Where ``track_video`` spends its time: cProfile of the main thread and CPU per thread.

    python benchmarks/profile_track.py [--video V] [--frames 64] [--pose clamp-tiny] \
        [--set video.backend=pyav] [--top 30]

Without ``--video`` a 640x480 video with 4 animals and a ground-truth box file is generated
(as in ``track_throughput.py``). ``track_video`` runs twice in one process: the first run warms
imports, caches and the model; the second is profiled (``cProfile`` sees the main thread only),
while the CPU time of every thread (``/proc/self/task``) is sampled before and after, so decoder
threads that keep a core busy show up. Prints the top functions by cumulative time and the CPU
seconds per thread name.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import track_throughput as tt  # noqa: E402

from wildpose.pipeline import track_video  # noqa: E402
from wildpose.video import probe  # noqa: E402


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by 'name/tid'."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
            name = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[f"{name}/{tid}"] = (int(fields[11]) + int(fields[12])) / tick
    return out


class ThreadSampler:
    """Samples :func:`thread_cpu` every ``interval`` s; keeps each thread's last value."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval, self.last = interval, thread_cpu()
        self.start_values = dict(self.last)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.last |= thread_cpu()

    def __enter__(self) -> ThreadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last |= thread_cpu()

    def used(self) -> dict[str, float]:
        """CPU seconds per thread between enter and exit (threads that ended included)."""
        return {k: v - self.start_values.get(k, 0.0) for k, v in self.last.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path)
    p.add_argument("--detector", default="full-frame", help="with --video")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--pose", default="clamp-tiny")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--top", type=int, default=30)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    args = tt.parse_args(["--out", os.devnull, "--pose", a.pose, "--device", a.device])
    args.overrides = a.overrides
    with tempfile.TemporaryDirectory(prefix="wp-profile-") as tmp:
        if a.video is None:
            w = tt.synthetic_workload(Path(tmp), "profile", a.frames, tt.MULTI_SIZE, 4)
        else:
            fps = probe(a.video).fps or 30.0
            w = tt.Workload("profile", a.video, a.detector, "", a.frames, (a.frames - 0.5) / fps)
        stages, _ = tt.build_stages(tt.run_config(args, w), args.random_weights)
        track_video(w.path, tmp, stages)  # warm-up
        prof = cProfile.Profile()
        with ThreadSampler() as sampler:
            cpu0, t0 = time.process_time(), time.perf_counter()
            res = prof.runcall(track_video, w.path, tmp, stages)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"{res.frames_read} frames in {wall:.2f} s ({res.frames_read / wall:.2f} frames/s)")
    print(f"process CPU {cpu:.2f} s = {cpu / wall:.2f} cores; timings_s {res.info['timings_s']}")
    print("CPU seconds per thread during the profiled run:")
    used = sampler.used()
    for key in sorted(used, key=used.__getitem__, reverse=True):
        if used[key] >= 0.01:
            print(f"  {key:<28}{used[key]:8.2f}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(a.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
