#!/usr/bin/env bash
# The GPU checks of the pose path in one short run: a few minutes on an H100/H200, and each
# step has a time limit, 9 minutes in all at worst, so the run fits one 10-minute device
# command and a rerun fits a 15-minute lease:
#   1. the gpu-marked tests (tests/gpu, tests/test_detect.py);
#   2. ViT-B/16 crops/s with the flip test, bf16 at batch 64/256/512 against fp32, and
#      torch.compile at batch 256; fp16 at batch 256/512; peak GPU memory
#                                              -> gpu_pose_vitb16_{bf16,compile,fp16}.json;
#   3. end-to-end track_video frames/s on a generated 1080p video with 4 and 8 animals against
#      decode-only frames/s, peak GPU memory   -> gpu_end_to_end_{4,8}.json;
#   4. nvidia-smi and every step's exit code    -> gpu_summary.json.
# Usage: benchmarks/gpu.sh [--dry-run]
#   OUT_DIR (default benchmarks/results), PYTHON (default python) from the environment.
#   --dry-run runs every Python step on the CPU with tiny sizes (checks the script; no GPU).
#   Wheels in .whl/ (benchmarks/gpu_wheels.sh makes them for a machine that has torch but not
#   wildpose's other packages) are installed first into /tmp/wildpose-site, with wildpose.
# A failing step is recorded and the others still run; the exit code is 1 if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${OUT_DIR:-benchmarks/results}
PY=${PYTHON:-python}
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; fi
export HF_HUB_OFFLINE=1 YOLO_OFFLINE=1 PYTHONUNBUFFERED=1
if [[ -d .whl ]] && compgen -G ".whl/*.whl" >/dev/null; then
  SITE=/tmp/wildpose-site
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl || exit 1
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir \
    --target "$SITE" . || exit 1  # wildpose itself, with its manifests and presets
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
mkdir -p "$OUT_DIR"
STEPS=()

step() {  # step NAME TIMEOUT_S CMD...: run with a time limit, remember the exit code
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*" >&2
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  echo "== $name: exit $rc after $((SECONDS - t0)) s" >&2
  STEPS+=("{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0))}")
}

if [[ $DRY == 1 ]]; then
  step tests 300 "$PY" -m pytest -q -p no:cacheprovider tests/gpu  # skip without CUDA
  step pose 300 "$PY" benchmarks/pose_throughput.py --device cpu --models tiny --batches 2 \
    --variants fp32,fast --quick --out "$OUT_DIR/gpu_dry_pose.json"
  step e2e 300 "$PY" benchmarks/gpu_end_to_end.py --dry-run --out "$OUT_DIR/gpu_dry_e2e.json"
else
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
    > "$OUT_DIR/gpu_nvidia_smi.csv" 2>&1 || true
  step tests 90 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/gpu tests/test_detect.py
  step pose-bf16 120 "$PY" benchmarks/pose_throughput.py --device cuda --models vitb16 \
    --precision bf16 --batches 64,256,512 --variants fp32,fast --repeats 5 \
    --out "$OUT_DIR/gpu_pose_vitb16_bf16.json"
  step pose-compile 120 "$PY" benchmarks/pose_throughput.py --device cuda --models vitb16 \
    --precision bf16 --batches 256 --variants fast,compile --repeats 5 \
    --out "$OUT_DIR/gpu_pose_vitb16_compile.json"
  step pose-fp16 60 "$PY" benchmarks/pose_throughput.py --device cuda --models vitb16 \
    --precision fp16 --batches 256,512 --variants fast --repeats 5 \
    --out "$OUT_DIR/gpu_pose_vitb16_fp16.json"
  step e2e-4 90 "$PY" benchmarks/gpu_end_to_end.py --animals 4 --frames 300 \
    --set pose.batch_size=64 --out "$OUT_DIR/gpu_end_to_end_4.json"
  step e2e-8 60 "$PY" benchmarks/gpu_end_to_end.py --animals 8 --frames 150 \
    --set pose.batch_size=64 --out "$OUT_DIR/gpu_end_to_end_8.json"
fi

failed=0
joined=$(IFS=,; echo "${STEPS[*]}")
for s in "${STEPS[@]}"; do
  [[ $s == *'"rc": 0,'* ]] || failed=1
done
echo "{\"date\": \"$(date -u +%FT%TZ)\", \"dry_run\": $DRY, \"steps\": [$joined]}" \
  > "$OUT_DIR/gpu_summary.json"
echo "wrote $OUT_DIR/gpu_summary.json (failed: $failed)" >&2
exit $failed
