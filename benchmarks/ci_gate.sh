#!/usr/bin/env bash
# The performance-regression guard that .github/workflows/bench.yml runs; it runs anywhere:
#
#   benchmarks/ci_gate.sh [BASE_REF]        (default origin/main)
#
# 1. the quick suite on this checkout, 2. the quick suite on BASE_REF (checked out in a git
# worktree), 3. `bench compare` of the two (exit 1 on a significant regression), 4. the
# normalized perf gate against benchmarks/perf_baseline.json (exit 1 when a step's own code got
# slower; a CPU kind without a baseline is reported, not gated).
# GANOPT_CI_STEPS=N shortens both suites (the test of this script); GANOPT_CI_OUT sets the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
base_ref=${1:-origin/main}
out=${GANOPT_CI_OUT:-results/ci}
steps=()
if [ -n "${GANOPT_CI_STEPS:-}" ]; then steps=(--steps "$GANOPT_CI_STEPS"); fi
root=$(pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/change.sqlite" "$out/base.sqlite" "$out/base-src"

python -m bench run --suite quick "${steps[@]}" --store "$out/change.sqlite" --out "$out/change" --quiet
git worktree add --detach "$out/base-src" "$base_ref" > /dev/null
trap 'git -C "$root" worktree remove --force "$out/base-src" > /dev/null 2>&1 || true' EXIT
(cd "$out/base-src" && python -m bench run --suite quick "${steps[@]}" --store "$out/base.sqlite" --out "$out/base" --quiet)
python -m bench compare "$out/base.sqlite" "$out/change.sqlite" --suite quick
python -m bench perf --problems ring8 --k 16 --bases adam --seconds 1 \
    --schemes simultaneous,alternating,extragradient,optimistic,past-extragradient \
    --out "$out/perf" --baseline benchmarks/perf_baseline.json
