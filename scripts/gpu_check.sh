#!/usr/bin/env bash
# On a machine with a GPU (after scripts/install.sh, a CUDA build of torch and, for Kokoro,
# pip install 'dubengine[gpu]'): the `gpu` tests, then the whole benchmark on CPU and CUDA in
# one run, its figures side by side. Results land in benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python -m pytest -q -m gpu -rs
python benchmarks/pipeline.py --devices cpu cuda --lengths 10 60 "$@"
