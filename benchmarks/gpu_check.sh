#!/usr/bin/env bash
# The one prepared GPU check (for a session that is lent a GPU through the device tool).
# Run on the GPU machine from the repository root, with the dataset copied into device_data/
# (git-ignored; name it in `carry`) and OUT set by the device tool:
#   mkdir -p device_data && cp -r ../shared/datasets/FashionMNIST device_data/   # here, before the call
#   bash benchmarks/gpu_check.sh                                                  # there: nothing installed
# Stages, most important first, each under its own time limit so the whole stays inside one call:
#   1. the GPU tests: CUDA graphs against eager steps and against autograd, for both engines and for a
#      captured stack; a local-gpus worker on the real GPU against the local executor;
#   2. `make report` as a user runs it (PYTHON=python3: nothing installed; no WeasyPrint there, so HTML
#      only), timed from a fresh process, start-up included;
#   3. `make bench`: the assignment loop against both engines, eager and graphed, per batch size; kernels
#      per step; the default suite stacked and alone.
# Everything comes back as one archive plus the benchmark tables and the logs' tails.
set -uo pipefail
export REPORT_BUILDER_DATA_DIR="$PWD/device_data" REPORT_BUILDER_NO_DOWNLOAD=1 PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/gpu-check}"
WORK=/tmp/gpu-check-work
rm -rf "$WORK"; mkdir -p "$WORK" "$OUT"
stage() { echo "== $(date +%T) $*"; }

stage "GPU"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"; } > "$WORK/gpu.txt" 2>&1
tail -n 3 "$WORK/gpu.txt"

stage "1. GPU tests"
timeout "${TESTS_LIMIT:-100}" python3 -m pytest -q -p no:cacheprovider -k "on_gpu" \
    tests/test_train.py tests/test_engine.py tests/test_executors.py > "$WORK/tests.log" 2>&1
echo "tests exit $?"; tail -n 15 "$WORK/tests.log"

stage "2. make report (fresh process)"
started=$(date +%s.%N)
timeout "${REPORT_LIMIT:-110}" env PYTHON=python3 make report RESULTS="$WORK/results" BUILD="$WORK/build" \
    ARGS=--no-progress > "$WORK/report.log" 2>&1
echo "make report exit $? in $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s"; tail -n 14 "$WORK/report.log"

stage "3. make bench"
timeout "${BENCH_LIMIT:-170}" python3 -m benchmarks.bench --epochs 1 --out "$WORK/bench" > "$WORK/bench.log" 2>&1
echo "bench exit $?"

stage "pack"
tar czf "$OUT/gpu-check.tar.gz" -C "$WORK" . 2>/dev/null
cp "$WORK"/bench/*.md "$WORK"/bench/*.json "$OUT/" 2>/dev/null
cp "$WORK/tests.log" "$WORK/report.log" "$WORK/bench.log" "$OUT/" 2>/dev/null
cat "$WORK"/bench/*.md 2>/dev/null || tail -n 40 "$WORK/bench.log"
