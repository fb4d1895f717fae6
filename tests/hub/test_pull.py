"""``pull`` and ``ensure_model`` on the shipped manifests, through a loopback mirror."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from wildpose.cli.pull import pull_cmd
from wildpose.errors import ModelError
from wildpose.hub.pull import ensure_model, install, pull
from wildpose.pose.manifest import DetectorManifest, WeightsSource

WEIGHTS = b"fake ultralytics weights " * 4000


def test_mirror_pull_installs_and_records_the_sha256(server, hub_env, monkeypatch, capsys):
    server.files["yolo11m.pt"] = WEIGHTS
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url + "/")
    path = pull("yolo11m", progress=False)
    assert path == hub_env / "yolo11m.pt" and path.read_bytes() == WEIGHTS
    digest = hashlib.sha256(WEIGHTS).hexdigest()
    assert (hub_env / "yolo11m.pt.sha256").read_text() == f"{digest}  yolo11m.pt\n"
    err = capsys.readouterr().err
    assert f"recorded {digest}" in err and "no sha256 is pinned" in err
    assert pull("yolo11m", progress=False) == path  # present: no second request
    assert server.count("yolo11m.pt") == 1


def test_megadetector_comes_from_the_mirror_under_its_release_name(server, hub_env, monkeypatch):
    server.files["MDV6-yolov10-c.pt"] = WEIGHTS
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url)
    assert pull("megadetector-v6-compact", progress=False).name == "MDV6-yolov10-c.pt"


def test_a_recorded_sha256_is_enforced_later(server, hub_env, monkeypatch):
    server.files["yolo11s.pt"] = WEIGHTS
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url)
    path = pull("yolo11s", progress=False)
    path.unlink()
    server.files["yolo11s.pt"] = WEIGHTS + b"changed upstream"
    with pytest.raises(ModelError, match="sha256 mismatch.*recorded at the first download") as e:
        pull("yolo11s", progress=False)
    assert "\n" not in str(e.value) and not path.exists()


def _detector(server, sha256: str | None) -> DetectorManifest:
    return DetectorManifest(
        name="det-test",
        weights=WeightsSource(
            file="det.pt", source=f"{server.url}/det.pt", sha256=sha256, format="ultralytics"
        ),
    )


def test_pinned_sha256_mismatch_installs_nothing(server, hub_env):
    server.files["det.pt"] = WEIGHTS
    with pytest.raises(ModelError, match="sha256 mismatch") as e:
        install(_detector(server, "0" * 64), progress=False)
    assert "\n" not in str(e.value)
    assert not (hub_env / "det.pt").exists() and not (hub_env / "det.pt.sha256").exists()


def test_pinned_sha256_match_installs(server, hub_env):
    server.files["det.pt"] = WEIGHTS
    path = install(_detector(server, hashlib.sha256(WEIGHTS).hexdigest()), progress=False)
    assert path.read_bytes() == WEIGHTS and not (hub_env / "det.pt.sha256").exists()


@pytest.mark.parametrize(
    "env, flag, why",
    [
        ({"HF_HUB_OFFLINE": "1"}, False, "HF_HUB_OFFLINE=1"),
        ({"WILDPOSE_OFFLINE": "1"}, False, "WILDPOSE_OFFLINE=1"),
        ({}, True, "--offline"),
    ],
)
def test_offline_is_one_line_naming_the_pull_command(server, hub_env, monkeypatch, env, flag, why):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url)
    with pytest.raises(ModelError) as e:
        pull("megadetector-v6", offline=flag)
    msg = str(e.value)
    assert "\n" not in msg and why in msg
    assert "run 'wildpose models pull megadetector-v6'" in msg
    assert f"into {hub_env}" in msg  # the manual route names the real folder
    assert server.requests == []


def test_offline_pose_model_names_pull_and_convert(hub_env, monkeypatch):
    monkeypatch.setenv("WILDPOSE_OFFLINE", "1")
    with pytest.raises(ModelError) as e:
        ensure_model("clamp-vitb16-ap10k")
    msg = str(e.value)
    assert "\n" not in msg and "'wildpose models pull clamp-vitb16-ap10k'" in msg
    assert f"-o {hub_env}/clamp-vitb16-ap10k.pt" in msg and "--arch vitb16" in msg


def test_ensure_model_leaves_what_needs_no_download(hub_env, tmp_path, monkeypatch):
    monkeypatch.setenv("WILDPOSE_OFFLINE", "1")  # any download attempt would raise
    assert ensure_model("clamp-tiny") == "clamp-tiny"
    assert ensure_model("hf://org/repo/m.pt") == "hf://org/repo/m.pt"
    assert ensure_model(str(tmp_path / "mine.pt")) == str(tmp_path / "mine.pt")
    for spec in ("full-frame", "boxes:b.csv", "yolo11n.yaml", "unknown-weights.pt"):
        assert ensure_model(spec, kind="detector") == spec
    existing = tmp_path / "yolo11n.pt"
    existing.write_bytes(b"x")
    assert ensure_model(str(existing), kind="detector") == str(existing)


def test_ensure_detector_pulls_a_known_file_name_on_first_use(server, hub_env, monkeypatch, capsys):
    server.files["yolo11n.pt"] = WEIGHTS
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url)
    monkeypatch.chdir(hub_env.parent)
    spec = ensure_model("yolo11n.pt", kind="detector", progress=False)
    assert spec == str(hub_env / "yolo11n.pt")
    assert "first use" in capsys.readouterr().err
    assert ensure_model("yolo11n", kind="detector") == spec  # by manifest name, no new request
    assert server.count("yolo11n.pt") == 1


def test_wrong_kind_is_a_clear_error(hub_env):
    with pytest.raises(ModelError, match="is a detector, not a pose model"):
        ensure_model("yolo11m")


def test_pull_cli(server, hub_env, monkeypatch):
    server.files["yolo11x.pt"] = WEIGHTS
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url)
    runner = CliRunner()
    ok = runner.invoke(pull_cmd, ["yolo11x", "clamp-tiny", "-q"])
    assert ok.exit_code == 0, ok.output
    assert f"yolo11x: {hub_env / 'yolo11x.pt'}" in ok.output and "clamp-tiny: built in" in ok.output
    # one failing model (not on the mirror) is reported, the others are installed: exit 1
    server.files["yolo11l.pt"] = WEIGHTS
    some = runner.invoke(pull_cmd, ["yolo11s", "yolo11l", "-q"])
    assert some.exit_code == 1 and (hub_env / "yolo11l.pt").is_file()
    assert "HTTP 404" in some.output
    unknown = runner.invoke(pull_cmd, ["no-such-model"])
    assert isinstance(unknown.exception, ModelError)  # exit 2 through wildpose's main
    assert unknown.exception.exit_code == 2


def test_a_manifest_mirror_is_used_and_the_variable_wins(server, hub_env, monkeypatch):
    server.files["m.pt"] = WEIGHTS
    weights = WeightsSource(
        file="m.pt", source="https://example.invalid/m.pt", mirror=server.url, format="ultralytics"
    )
    assert install(DetectorManifest("m", weights), progress=False).read_bytes() == WEIGHTS
    (hub_env / "m.pt").unlink()
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url + "/other")
    server.files["other/m.pt"] = WEIGHTS
    install(DetectorManifest("m", weights), progress=False)
    assert [n for n, _ in server.requests] == ["m.pt", "other/m.pt"]


def test_pull_as_a_subprocess(server, hub_env, tmp_path):
    server.files["yolo11n.pt"] = WEIGHTS
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "WILDPOSE_OFFLINE")}
    env.update(WILDPOSE_MODELS=str(hub_env), WILDPOSE_MIRROR=server.url)
    cmd = [sys.executable, "-m", "wildpose", "models", "pull", "-q"]
    ok = subprocess.run([*cmd, "yolo11n"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (hub_env / "yolo11n.pt").read_bytes() == WEIGHTS
    env["WILDPOSE_OFFLINE"] = "1"
    off = subprocess.run([*cmd, "yolo11m"], env=env, capture_output=True, text=True, timeout=120)
    assert off.returncode == 1 and "Traceback" not in off.stderr
    (line,) = off.stderr.strip().splitlines()
    assert "run 'wildpose models pull yolo11m'" in line


def _track(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wildpose", "track", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "YOLO_OFFLINE": "1"},
        timeout=300,
    )


def test_track_pulls_a_missing_detector_on_first_use(server, hub_env, monkeypatch, tmp_path):
    """`wildpose track` runs the same code as `models pull` for a missing known model."""
    from wildpose.synthetic import write_synthetic_video

    video = tmp_path / "clip.mp4"
    write_synthetic_video(video, n_frames=4, size=(160, 120))
    server.files["yolo11n.pt"] = WEIGHTS
    monkeypatch.setenv("WILDPOSE_MIRROR", server.url)
    base = [str(video), "--pose", "clamp-tiny", "--detector", "yolo11n.pt", "-o", str(tmp_path)]
    res = _track([*base, "--offline"])
    assert res.returncode == 2 and server.requests == []
    assert res.stderr.count("\n") == 1 and "'wildpose models pull yolo11n'" in res.stderr
    res = _track(base)
    assert server.count("yolo11n.pt") == 1, res.stderr
    assert (hub_env / "yolo11n.pt").read_bytes() == WEIGHTS
    assert "downloading it now (first use)" in res.stderr
    # the fake weights are no detector: the run then fails with one line, not a traceback
    assert res.returncode in (1, 2) and "Traceback" not in res.stderr
