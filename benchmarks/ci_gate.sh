#!/usr/bin/env bash
# The performance-regression guard that .github/workflows/bench.yml runs; it runs anywhere, on
# any CPU kind, with no stored timing:
#
#   benchmarks/ci_gate.sh [BASE_REF]        (default origin/main)
#
# 1. exact counters (`bench counts --check benchmarks/counts.json`): FLOPs, gradient evaluations,
#    ATen operators, allocated / peak / saved bytes of each gated step, zero tolerance (exit 1
#    names each counter that changed and the command that refreshes the file);
#    also shown, not gated: the change's counts against BASE_REF's committed file, if it has one;
# 2. the quick suite on this checkout and on BASE_REF (a git worktree), and `bench compare` of
#    the two (metrics and gradient evaluations; wall time is shown, not judged);
# 3. A/B timing (`bench ab`): BASE_REF's and this checkout's steps timed alternately in separate
#    processes on this machine; exit 1 when a step is >= 10% slower with one-sided p <= 0.01.
# Every part runs; the script exits 1 if any of them failed.
# GANOPT_CI_STEPS=N shortens both suites and GANOPT_CI_AB="--rounds 1 ..." passes options to
# `bench ab` (the test of this script); GANOPT_CI_OUT sets the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
base_ref=${1:-origin/main}
out=${GANOPT_CI_OUT:-results/ci}
steps=()
if [ -n "${GANOPT_CI_STEPS:-}" ]; then steps=(--steps "$GANOPT_CI_STEPS"); fi
read -r -a ab_options <<< "${GANOPT_CI_AB:-}"
gated=(--problems ring8 --bases adam --schemes simultaneous,alternating,extragradient,optimistic,past-extragradient)
root=$(pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/change.sqlite" "$out/base.sqlite" "$out/base-src"
status=0
failed() { echo "ci_gate: FAILED: $1" >&2; status=1; }

echo "== 1. exact counters" >&2
python -m bench counts --check benchmarks/counts.json || failed "exact counters"
git worktree add --detach "$out/base-src" "$base_ref" > /dev/null
trap 'git -C "$root" worktree remove --force "$out/base-src" > /dev/null 2>&1 || true' EXIT
if [ -f "$out/base-src/benchmarks/counts.json" ]; then
    echo "-- the change's counts against $base_ref's benchmarks/counts.json (information):" >&2
    python -m bench counts --check "$out/base-src/benchmarks/counts.json" || true
fi

echo "== 2. quick suite on the change and on $base_ref, compare" >&2
python -m bench run --suite quick "${steps[@]}" --store "$out/change.sqlite" --out "$out/change" --quiet
(cd "$out/base-src" && python -m bench run --suite quick "${steps[@]}" --store "$out/base.sqlite" --out "$out/base" --quiet)
python -m bench compare "$out/base.sqlite" "$out/change.sqlite" --suite quick || failed "bench compare"

echo "== 3. A/B timing against $base_ref" >&2
python -m bench ab "$out/base-src" . "${gated[@]}" --k 16 --samples "$out/ab-samples.json" "${ab_options[@]}" \
    | tee "$out/ab.txt" \
    || failed "A/B timing"
exit $status
