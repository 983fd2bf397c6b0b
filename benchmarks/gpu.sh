#!/usr/bin/env bash
# The GPU measurements behind the README's GPU figures, in one call on a GPU machine:
#   OUT=results/gpu bash benchmarks/gpu.sh
# Each step has its own time limit and goes on when one fails; everything is logged to $OUT/log.txt.
set -u
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
log=$OUT/log.txt
step() {
  local limit=$1; shift
  echo "=== $(date +%T) $* (limit ${limit}s)" | tee -a "$log"
  local start=$SECONDS
  timeout "$limit" "$@" > /tmp/step.log 2>&1
  local rc=$?
  tail -n 40 /tmp/step.log | tee -a "$log"
  echo "=== rc $rc after $((SECONDS - start))s" | tee -a "$log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$log"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$log"
step 60 python3 -m bench run --suite quick --device cuda --steps 100 --seeds 1 --store /tmp/smoke.sqlite --out /tmp/smoke --quiet
step 130 python3 -m bench tune --suite tune-mixtures --problems ring8 --device cuda --executor processes --workers 5 \
  --store /tmp/tune.sqlite --table "$OUT/tuned_lr.json" --quiet
step 130 python3 -m bench tune --suite tune-mixtures --problems grid25 --device cuda --executor processes --workers 5 \
  --store /tmp/tune.sqlite --table "$OUT/tuned_lr.json" --quiet
python3 - "$OUT" <<'PY'
# every tuning trial's curve of the primary metric, for the convergence check of the budgets
import sqlite3, sys
import pandas as pd
try:
    con = sqlite3.connect("/tmp/tune.sqlite")
    q = ("select r.problem, r.strategy, r.trial, r.seed, r.status, m.step, m.name, m.value from metric_values m "
         "join runs r using(run_id) where m.name in ('mode_overlap', 'hq_fraction', 'modes_covered')")
    pd.read_sql(q, con).to_csv(sys.argv[1] + "/tune_curves.csv.gz", index=False)
except Exception as e:
    print("no tuning curves:", e)
PY
step 80 python3 -m bench perf --device cuda --problems ring8 --k 1,16,256,2048 --schemes simultaneous,extragradient \
  --bases adam --seconds 0.5 --out /tmp/perf
for precision in tf32 bf16; do
  step 80 python3 -m bench perf --device cuda --problems ring8 --k 1,16,256,2048 --schemes simultaneous \
    --bases adam --seconds 0.5 --precision $precision --out /tmp/perf-$precision
  cp /tmp/perf-$precision/perf.csv "$OUT/perf-$precision.csv" 2>/dev/null
done
cp /tmp/perf/*.csv "$OUT/" 2>/dev/null
step 45 python3 -m bench run --suite literature --device cuda --steps 2000 --store /tmp/lit.sqlite --out /tmp/lit --quiet
step 60 python3 -m bench run --suite stacked-mnist-gpu --device cuda --steps 300 --store /tmp/sm.sqlite --out /tmp/sm --quiet
step 45 python3 -m bench run --suite mnist-gpu --device cuda --steps 300 --store /tmp/mn.sqlite --out /tmp/mn --quiet
for f in /tmp/lit/summary.csv:lit_summary.csv /tmp/sm/summary.csv:sm_summary.csv /tmp/mn/summary.csv:mn_summary.csv; do
  cp "${f%%:*}" "$OUT/${f##*:}" 2>/dev/null
done
echo "=== done $(date +%T)" | tee -a "$log"
