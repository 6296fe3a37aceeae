#!/usr/bin/env bash
# The engine's committed performance thresholds, checked so a regression fails:
#  - instructions per evaluated sample, counted by valgrind's callgrind (deterministic; this
#    machine kind exposes no hardware counters to the benchmark harness): the difference between
#    two runs of different length, so setup cancels out;
#  - allocations per sample (must stay 0), from ordo-one/benchmark's malloc counters, against the
#    static thresholds in Thresholds/.
# Prints one result line per check and closes with "benchmarks: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
command -v valgrind >/dev/null || { echo "check.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
swift build -c release --product EngineProfile >/dev/null || exit 1

# scenario  max-instructions-per-sample  (goals of the engine issue: limits-only <= 300, full <= 1000)
limits=(limits:300 full:1000 mixed:600)
passed=0; failed=0
irefs() { valgrind --tool=callgrind --callgrind-out-file=/dev/null .build/release/EngineProfile "$1" "$2" 2>&1 | sed -n 's/.*refs: *\([0-9,]*\).*/\1/p' | tr -d ','; }
for entry in "${limits[@]}"; do
    s=${entry%%:*}; max=${entry##*:}
    a=$(irefs "$s" 100000); b=$(irefs "$s" 300000)
    per=$(( (b - a) / 200000 ))
    if [ "$per" -le "$max" ]; then passed=$((passed + 1)); verdict=ok; else failed=$((failed + 1)); verdict=REGRESSION; fi
    echo "instructions/sample $s: $per (threshold $max) $verdict"
done

# Run the benchmarks, export their p90 figures, and hold each against the committed Thresholds/:
# a metric there (mallocCountTotal) may not grow.
out=$(mktemp -d)
if swift package --disable-sandbox benchmark thresholds update --path "$out" --no-progress >"$out/log" 2>&1 &&
   python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
bad = 0
for name in sorted(os.listdir("Thresholds")):
    committed = json.load(open(os.path.join("Thresholds", name)))
    path = os.path.join(out, name)
    if not os.path.exists(path):
        print(f"  {name}: not measured"); bad += 1; continue
    current = json.load(open(path))
    for metric, limit in committed.items():
        value = current.get(metric)
        ok = value is not None and value <= limit
        print(f"  {name.removesuffix('.p90.json')}: {metric} {value} (threshold {limit}) {'ok' if ok else 'REGRESSION'}")
        bad += 0 if ok else 1
sys.exit(1 if bad else 0)
PY
then
    passed=$((passed + 1)); echo "allocations per benchmark: within the committed thresholds"
else
    failed=$((failed + 1)); echo "allocations per benchmark: over the committed thresholds (see above, or $out/log)"
fi
echo "benchmarks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
