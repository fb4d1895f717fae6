"""`wildpose batch --engine ray` on a local Ray (127.0.0.1, 2 CPUs) against the local engine.

One Ray cluster serves the module (starting one takes seconds). The archives are tiny
(clamp-tiny, full-frame boxes, 64x48 videos of a few frames), so the tests check bookkeeping:
the same outputs and run log statuses as the local engine, a worker that dies mid-run, and a
driver killed with SIGKILL then resumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray cluster and actors that load torch: about 2 min on 2 cores

from wildpose.batch import DONE, FAILED, SKIPPED, latest_records, read_run_log, run_log_path  # noqa: E402
from wildpose.batch.ray_tasks import CRASH_ENV  # noqa: E402
from wildpose.synthetic import write_image_sequence, write_synthetic_video  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FAST = ["--pose", "clamp-tiny", "--detector", "full-frame", "--no-flip-test", "--device", "cpu"]
FAST += ["-q"]
TIMES = {"started", "finished", "seconds", "frames_per_s", "timings_s"}
RAY = ["--engine", "ray", "--workers", "2"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> dict[str, str]:
    """A local Ray on 127.0.0.1 with 2 CPUs; its workers see the crash hook's folder."""
    hook = tmp_path_factory.mktemp("crash-hook")
    env = {"RAY_USAGE_STATS_ENABLED": "0", CRASH_ENV: str(hook), "OMP_NUM_THREADS": "1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the raylet, hence every worker, inherits this environment
    ray.init(
        num_cpus=2,
        num_gpus=0,  # CPU actors, also on a machine with GPUs
        address="local",
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    try:
        yield {"hook": str(hook), "address": ray.get_runtime_context().gcs_address}
    finally:
        ray.shutdown()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _video(path: Path, n: int = 6, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_synthetic_video(path, n_frames=n, size=(64, 48), fps=10.0, n_animals=1, seed=seed)
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Two videos, an image burst and a bad file."""
    root = tmp_path_factory.mktemp("mixed")
    _video(root / "a" / "v1.mp4", seed=1)
    _video(root / "v2.mp4", seed=2)
    write_image_sequence(root / "b", 3, (64, 48), name="IMG_{i}.jpg")
    (root / "a" / "bad.mp4").write_text("not a video")
    return root


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def _assert_same_tables(got: Path, want: Path) -> None:
    names = sorted(p.relative_to(want).as_posix() for p in want.rglob("*.tracks.parquet"))
    assert names and names == sorted(
        p.relative_to(got).as_posix() for p in got.rglob("*.tracks.parquet")
    )
    for name in names:
        a, b = pq.read_table(got / name), pq.read_table(want / name)
        pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas(), obj=name)
        assert a.schema.metadata == b.schema.metadata, name


def _statuses(out: Path) -> dict[str, str]:
    return {k: r["status"] for k, r in latest_records(out).items()}


def test_ray_engine_equals_local_engine(invoke, cluster, mixed, tmp_path, capsys):
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert invoke(["batch", str(mixed), "-o", str(local), *FAST]) == 1
    assert invoke(["batch", str(mixed), "-o", str(remote), *RAY, *FAST]) == 1
    assert _files(remote) == _files(local)
    _assert_same_tables(remote, local)
    assert _statuses(remote) == _statuses(local)
    assert _statuses(remote)["a/bad.mp4"] == FAILED and len(_statuses(remote)) == 4
    want, got = latest_records(local), latest_records(remote)
    for key, rec in want.items():
        same = ("error", "rows", "frames", "outputs", "model_sha256", "config_hash")
        assert {k: got[key].get(k) for k in same} == {k: rec.get(k) for k in same}, key
    for run in local.rglob("*.run.json"):  # the same but for the clock
        a, b = (json.loads(p.read_text()) for p in (run, remote / run.relative_to(local)))
        assert {k: v for k, v in a.items() if k not in TIMES} == {
            k: v for k, v in b.items() if k not in TIMES
        }, run.name
    assert "a/bad.mp4: not a readable video" in capsys.readouterr().err
    # a rerun on Ray skips what either engine did
    assert invoke(["batch", str(mixed), "-o", str(local), *RAY, *FAST]) == 1
    assert sorted(_statuses(local).values()) == [FAILED, SKIPPED, SKIPPED, SKIPPED]


def test_a_dead_worker_is_replaced_and_its_input_retried(invoke, cluster, mixed, tmp_path):
    hook = Path(cluster["hook"])
    (hook / "armed").touch()
    out = tmp_path / "out"
    assert invoke(["batch", str(mixed), "-o", str(out), *RAY, *FAST]) == 1
    assert not (hook / "armed").exists() and list(hook.glob("fired.*")), "no worker crashed"
    assert sorted(_statuses(out).values()) == [DONE, DONE, DONE, FAILED]
    assert len(read_run_log(run_log_path(out))) == 4  # the crashed attempt left no record
    assert not [f for f in _files(out) if f.endswith(".partial")]
    ref = tmp_path / "ref"
    assert invoke(["batch", str(mixed), "-o", str(ref), *FAST]) == 1
    _assert_same_tables(out, ref)


def test_an_input_whose_worker_dies_too_often_is_recorded_failed(invoke, cluster, mixed, tmp_path):
    (Path(cluster["hook"]) / "armed").touch()
    out = tmp_path / "out"
    assert invoke(["batch", str(mixed), "-o", str(out), *RAY, "--max-retries", "0", *FAST]) == 1
    failed = [r for r in latest_records(out).values() if r["status"] == FAILED]
    died = [r for r in failed if "its worker died, 1 attempt (" in r["error"]]
    assert len(died) == 1, [r["error"] for r in failed]
    assert {r["input"] for r in failed} == {died[0]["input"], "a/bad.mp4"}
    assert "\n" not in died[0]["error"] and died[0]["error"].startswith(died[0]["input"] + ": ")


def test_a_worker_that_cannot_build_its_stages_stops_the_run_with_exit_2(
    invoke, cluster, mixed, tmp_path, capsys
):
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA (the workers' --device cuda must fail)")
    out = tmp_path / "out"  # the driver checks the model on the CPU; the workers fail
    args = [*FAST[:-3], "--device", "cuda", "-q"]
    assert invoke(["batch", str(mixed), "-o", str(out), *RAY, *args]) == 2
    err = capsys.readouterr().err
    assert "a Ray worker could not start: device 'cuda'" in err and err.count("\n") <= 2, err
    assert read_run_log(run_log_path(out)) == []


def _wait_for_done(run_log: Path, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if run_log.exists() and any(r["status"] == DONE for r in read_run_log(run_log)):
            return
        time.sleep(0.01)
    out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
    raise AssertionError(f"no input was recorded done (exit code {proc.poll()}): {out[-2000:]}")


def _wait_for_idle_cluster(timeout_s: float) -> None:
    """Ray kills a dead driver's actors once it notices; their CPUs come back then."""
    deadline = time.monotonic() + timeout_s
    while ray.available_resources().get("CPU", 0) < 2:
        assert time.monotonic() < deadline, "the killed driver's actors are still alive"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> Path:
    """Eight videos of 24 frames in two folders."""
    root = tmp_path_factory.mktemp("eight")
    for i in range(8):
        _video(root / f"d{i % 2}" / f"v{i}.mp4", n=24, seed=i)
    return root


def _driver(root: Path, out: Path, address: str, sig: int) -> subprocess.Popen:
    """Run the batch in a subprocess joined to ``address``; send ``sig`` once an input is done."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1"}
    args = ["batch", str(root), "-o", str(out), *RAY, "--address", address, *FAST]
    cmd = [sys.executable, "-m", "wildpose", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_done(run_log_path(out), proc, 120)
        os.kill(proc.pid, sig)
        proc.wait(60)
    finally:
        proc.kill()
        proc.wait()
    return proc


def test_ctrl_c_kills_the_workers_and_records_nothing_unfinished(cluster, eight, tmp_path):
    out = tmp_path / "out"
    proc = _driver(eight, out, cluster["address"], signal.SIGINT)
    assert proc.returncode == 130, proc.stdout.read().decode()[-2000:] if proc.stdout else ""
    records = read_run_log(run_log_path(out))
    assert 0 < len(records) < 8 and all(r["status"] == DONE for r in records)
    for rec in records:  # a record only for an input whose outputs are whole
        for name in rec["outputs"]:
            assert (out / name).is_file()
    for table in out.rglob("*.tracks.parquet"):  # every file with a final name is whole
        pq.read_table(table)
    _wait_for_idle_cluster(60)


def test_a_driver_killed_with_sigkill_then_resumed_equals_an_uninterrupted_run(
    invoke, cluster, eight, tmp_path
):
    root, ref, killed = eight, tmp_path / "ref", tmp_path / "killed"
    proc = _driver(root, killed, cluster["address"], signal.SIGKILL)
    before = read_run_log(run_log_path(killed))
    assert proc.returncode == -signal.SIGKILL and len(before) < 8, "not killed midway"
    for table in killed.rglob("*.tracks.parquet"):  # every file with a final name is whole
        pq.read_table(table)
    for run in killed.rglob("*.run.json"):
        json.loads(run.read_text())
    _wait_for_idle_cluster(60)

    assert invoke(["batch", str(root), "-o", str(killed), *RAY, *FAST]) == 0
    assert invoke(["batch", str(root), "-o", str(ref), *FAST]) == 0
    latest = latest_records(killed)
    assert latest[before[0]["input"]]["status"] == SKIPPED
    assert all(r["status"] in (DONE, SKIPPED) for r in latest.values()) and len(latest) == 8
    assert _files(killed) == _files(ref)  # hence no *.partial either
    _assert_same_tables(killed, ref)
