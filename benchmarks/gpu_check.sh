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
#      per step; the default suite stacked and alone;
#   4. the fused Triton step (issue 27): tests/test_fused.py on the GPU (compiled kernels, CUDA graphs),
#      benchmarks/fused_bench.py (µs per step at batch 32 alone, a stack of 15, kernels per step, accuracy
#      against the written-out step), and `make report` again with REPORT_BUILDER_FUSED=1, timed as in 2.
# STAGES picks stages (default all: "tests report bench fused"; each under its own limit, together more than one
# call allows); for issue 27 alone, with the default report beside the fused one:
#   STAGES="fused report" bash benchmarks/gpu_check.sh
# Everything comes back as one archive plus the benchmark tables and the logs' tails.
set -uo pipefail
export REPORT_BUILDER_DATA_DIR="$PWD/device_data" REPORT_BUILDER_NO_DOWNLOAD=1 PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/gpu-check}"
WORK=/tmp/gpu-check-work
rm -rf "$WORK"; mkdir -p "$WORK" "$OUT"
STAGES="${STAGES:-tests report bench fused}"
stage() { echo "== $(date +%T) $*"; }
wanted() { [[ " $STAGES " == *" $1 "* ]]; }
timed_report() {  # $1: label, $2: results/build suffix, then env assignments for make
    local label=$1 suffix=$2; shift 2
    local started; started=$(date +%s.%N)
    timeout "${REPORT_LIMIT:-110}" env "$@" PYTHON=python3 make report RESULTS="$WORK/results$suffix" \
        BUILD="$WORK/build$suffix" ARGS=--no-progress > "$WORK/report$suffix.log" 2>&1
    echo "$label exit $? in $(python3 -c "print(round($(date +%s.%N) - $started, 1))") s" | tee -a "$WORK/wall.txt"
    tail -n 14 "$WORK/report$suffix.log"
}

stage "GPU"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"; } > "$WORK/gpu.txt" 2>&1
tail -n 3 "$WORK/gpu.txt"

if wanted tests; then
    stage "1. GPU tests"
    timeout "${TESTS_LIMIT:-100}" python3 -m pytest -q -p no:cacheprovider -k "on_gpu" \
        tests/test_train.py tests/test_engine.py tests/test_executors.py > "$WORK/tests.log" 2>&1
    echo "tests exit $?"; tail -n 15 "$WORK/tests.log"
fi

if wanted report; then
    stage "2. make report (fresh process)"
    timed_report "make report" "" REPORT_BUILDER_FUSED=0
fi

if wanted bench; then
    stage "3. make bench"
    timeout "${BENCH_LIMIT:-170}" python3 -m benchmarks.bench --epochs 1 --out "$WORK/bench" > "$WORK/bench.log" 2>&1
    echo "bench exit $?"
fi

if wanted fused; then
    stage "4a. fused step: tests on the GPU"
    timeout "${FUSED_TESTS_LIMIT:-120}" python3 -m pytest -q -p no:cacheprovider tests/test_fused.py \
        > "$WORK/fused-tests.log" 2>&1
    echo "fused tests exit $?"; tail -n 15 "$WORK/fused-tests.log"
    stage "4b. fused step: timings, kernels, accuracy"
    timeout "${FUSED_BENCH_LIMIT:-150}" python3 -m benchmarks.fused_bench --out "$WORK/fused" \
        > "$WORK/fused-bench.log" 2>&1
    echo "fused bench exit $?"; tail -n 15 "$WORK/fused-bench.log"
    stage "4c. make report with the fused step (fresh process)"
    timed_report "make report, REPORT_BUILDER_FUSED=1" "-fused" REPORT_BUILDER_FUSED=1
    grep -ho '"fused\(_note\)\?": [^,}]*' "$WORK"/results-fused/*.json 2>/dev/null | sort | uniq -c
fi

stage "pack"
tar czf "$OUT/gpu-check.tar.gz" -C "$WORK" . 2>/dev/null
cp "$WORK"/bench/*.md "$WORK"/bench/*.json "$WORK"/fused/* "$WORK/wall.txt" "$OUT/" 2>/dev/null
cp "$WORK"/*.log "$OUT/" 2>/dev/null
cat "$WORK"/bench/*.md "$WORK"/fused/*.md 2>/dev/null || tail -n 40 "$WORK/bench.log"
