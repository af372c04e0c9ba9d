#!/usr/bin/env bash
# Download, here, the wheels bench/gpu_run.sh installs on a lent GPU machine (Python 3.12,
# torch 2.11 preinstalled there, no network): timm, its dependencies, and torchvision 0.26 (torch 2.11's).
# Carry bench/wheels with the run (it is git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mkdir -p bench/wheels
for spec in "timm==1.0.31" "huggingface_hub<1.0" safetensors pyyaml tqdm filelock fsspec packaging requests \
            typing_extensions hf-xet certifi charset_normalizer idna urllib3; do
  python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d bench/wheels "$spec"
done
# timm imports torchvision: the build that matches the device's torch 2.11
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 -d bench/wheels "torchvision==0.26.0"
ls -la bench/wheels
