#!/usr/bin/env bash
# The one prepared GPU check (for a session that is lent a GPU through the device tool).
# Run on the GPU machine from the repository root, with the dataset copied into device_data/
# (git-ignored; name it in `carry`) and OUT set by the device tool:
#   cp -r ../shared/datasets device_data        # on this machine, before the call
#   bash benchmarks/gpu_check.sh                # there: PYTHON=python3, nothing installed
# Brings back under $OUT: the benchmark tables, the suite's results, and the test log.
set -uo pipefail
export REPORT_BUILDER_DATA_DIR="$PWD/device_data" REPORT_BUILDER_NO_DOWNLOAD=1
OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"
nvidia-smi -L > "$OUT/gpu.txt" 2>&1
# CUDA graph path against eager, stacked against alone, on the GPU
python3 -m pytest -q -x tests/test_train.py tests/test_stacked.py -k "cuda or stack" > "$OUT/tests.log" 2>&1
# the whole default suite, timed as a user runs it
( time PYTHON=python3 make report RESULTS="$OUT/results" BUILD="$OUT/build" ) > "$OUT/suite.log" 2>&1
python3 -m benchmarks.bench --epochs 3 --out "$OUT/bench" > "$OUT/bench.log" 2>&1
tail -n 40 "$OUT"/*.log
