#!/usr/bin/env bash
# Download, into .whl/, the wheels that benchmarks/gpu.sh needs on a GPU machine whose Python
# already has torch, numpy, pandas, pyarrow, opencv, timm, scipy, matplotlib and friends but
# none of wildpose's other dependencies and no network (the lent H100/H200 image: Python 3.12).
# gpu.sh installs them (and wildpose) into /tmp/wildpose-site before its steps.
# Usage: benchmarks/gpu_wheels.sh [PYTHON_VERSION]   (default 3.12); needs pip and the registry.
# Keep .whl/ out of git (echo /.whl/ >> .git/info/exclude); the total is printed (a device
# call carries at most 64 MiB with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
PYV=${1:-3.12}
# wildpose's runtime packages missing from that image, and theirs (no extras).
PACKAGES=(
  "open_clip_torch==3.3.0" "ftfy==6.3.1" "wcwidth==0.9.4"
  "av==18.1.0"
  "ultralytics==8.4.190" "ultralytics-thop==2.2.3"
  "supervision==0.31.2" "defusedxml==0.7.1" "pyDeprecate==0.13.0"
  "trackers==2.6.1"
  "pydantic==2.14.4" "pydantic-core==2.50.5" "annotated-types==0.8.0" "typing-inspection==0.4.5"
)
mkdir -p .whl
args=(--no-deps --only-binary=:all: --python-version "$PYV" --implementation cp -d .whl)
for plat in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 any; do
  args+=(--platform "$plat")
done
for pkg in "${PACKAGES[@]}"; do
  python3 -m pip download -q "${args[@]}" "$pkg"
done
du -sh .whl
