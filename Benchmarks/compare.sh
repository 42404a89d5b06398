#!/usr/bin/env bash
# Runs the swift-pebble benchmark (pebble-bench) and the Python peer benchmark
# (peers/pebble_bench.py: Python Pebble, multiprocessing.Pool and
# concurrent.futures' process and thread pools) in interleaved rounds and
# prints a Markdown comparison table with a column per peer and swift-pebble's
# ratio to the best Python implementation of each row, then Swift's own peers
# (dispatch, TaskGroup, Task.detached: measured by pebble-bench in the same
# process), and the load averages recorded during the run.
#
#   Benchmarks/compare.sh [--quick] [--rounds N] [--metrics LIST]
#
#   --quick         tiny sample counts on both sides (smoke test)
#   --rounds N      number of rounds (default 3); each round runs both sides,
#                   alternating which one goes first
#   --metrics LIST  comma list of metric names/prefixes passed to both sides
#
# Environment: COMPARE_TIMEOUT (seconds per side per round, default 1800);
#   COMPARE_SWIFT_BIN (use this executable as the Swift side, skip the build).
#
# Raw JSON lines go to .build/compare/<timestamp>.jsonl, raw logs to
# .build/compare/<timestamp>-logs/, the table to .build/compare/<timestamp>.md.
# If the Swift side is missing or fails, the Pebble column is still printed.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
PEERS="$SCRIPT_DIR/peers"
VENV_PY="$ROOT/.build/peers-venv/bin/python"
SUMMARIZE=(python3 "$PEERS/summarize.py")
TIMEOUT_S="${COMPARE_TIMEOUT:-1800}"

QUICK=0
ROUNDS=3
METRICS=""

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --rounds) [[ $# -ge 2 ]] || { echo "--rounds needs a value" >&2; exit 2; }
                  ROUNDS="$2"; shift 2 ;;
        --rounds=*) ROUNDS="${1#*=}"; shift ;;
        --metrics) [[ $# -ge 2 ]] || { echo "--metrics needs a value" >&2; exit 2; }
                   METRICS="$2"; shift 2 ;;
        --metrics=*) METRICS="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done
if ! [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "--rounds must be a positive integer" >&2; exit 2
fi

BENCH_ARGS=()
[[ $QUICK -eq 1 ]] && BENCH_ARGS+=(--quick)
[[ -n "$METRICS" ]] && BENCH_ARGS+=(--metrics "$METRICS")

cd "$ROOT"
TS="$(date -u +%Y%m%dT%H%M%SZ)"
OUTDIR="$ROOT/.build/compare"
OUT="$OUTDIR/$TS.jsonl"
LOGS="$OUTDIR/$TS-logs"
mkdir -p "$LOGS"
: > "$OUT"

NOTES=()
say() { echo "compare: $*" >&2; }

with_timeout() {
    if command -v timeout >/dev/null 2>&1; then
        timeout --kill-after=10 "$TIMEOUT_S" "$@"
    else
        "$@"
    fi
}

# ---------------------------------------------------------------- Python side
PY_OK=1
say "setting up the Python peer venv (Benchmarks/peers/setup.sh)"
if ! "$PEERS/setup.sh" >"$LOGS/setup.log" 2>&1; then
    PY_OK=0
    NOTES+=("Python side unavailable: peers/setup.sh failed (see $LOGS/setup.log)")
    say "setup.sh FAILED:"; tail -n 20 "$LOGS/setup.log" >&2 || true
fi

# ----------------------------------------------------------------- Swift side
SWIFT_OK=1
SWIFT_VERSION="swift: not found"
if command -v swift >/dev/null 2>&1; then
    SWIFT_VERSION="$(swift --version 2>&1 | head -n1 || true)"
fi
if [[ -n "${COMPARE_SWIFT_BIN:-}" ]]; then
    # Use a prebuilt binary (or a stand-in) instead of building pebble-bench.
    SWIFT_BIN="$COMPARE_SWIFT_BIN"
    if [[ ! -x "$SWIFT_BIN" ]]; then
        SWIFT_OK=0
        NOTES+=("Swift side unavailable: COMPARE_SWIFT_BIN=$SWIFT_BIN is not executable")
    fi
elif command -v swift >/dev/null 2>&1; then
    say "building pebble-bench (swift build -c release --product pebble-bench)"
    if swift build -c release --product pebble-bench >"$LOGS/swift-build.log" 2>&1; then
        BIN_DIR="$(swift build -c release --show-bin-path 2>/dev/null || echo "$ROOT/.build/release")"
        SWIFT_BIN="$BIN_DIR/pebble-bench"
        [[ -x "$SWIFT_BIN" ]] || SWIFT_BIN="$ROOT/.build/release/pebble-bench"
        if [[ ! -x "$SWIFT_BIN" ]]; then
            SWIFT_OK=0
            NOTES+=("Swift side unavailable: built, but no executable at $SWIFT_BIN")
        fi
    else
        SWIFT_OK=0
        NOTES+=("Swift side unavailable: swift build -c release --product pebble-bench failed (see $LOGS/swift-build.log)")
        say "swift build FAILED:"; tail -n 20 "$LOGS/swift-build.log" >&2 || true
    fi
else
    SWIFT_OK=0
    NOTES+=("Swift side unavailable: swift not found in PATH")
fi

META_ARGS=(--swift-version "$SWIFT_VERSION" --rounds "$ROUNDS")
[[ $QUICK -eq 1 ]] && META_ARGS+=(--quick)
[[ -n "$METRICS" ]] && META_ARGS+=(--metrics "$METRICS")
"${SUMMARIZE[@]}" meta "${META_ARGS[@]}" >> "$OUT"

# Runs one side for round $2; never fails the script.
run_side() {
    local side="$1" round="$2" rc=0 log="$LOGS/$1-round$2"
    local rows_before rows_after
    case "$side" in
        swift)
            [[ $SWIFT_OK -eq 1 ]] || return 0
            say "round $round: swift-pebble ($SWIFT_BIN ${BENCH_ARGS[*]:-})"
            with_timeout "$SWIFT_BIN" ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} >"$log.out" 2>"$log.err" || rc=$?
            ;;
        python)
            [[ $PY_OK -eq 1 ]] || return 0
            say "round $round: Python Pebble (peers/pebble_bench.py ${BENCH_ARGS[*]:-})"
            with_timeout "$VENV_PY" "$PEERS/pebble_bench.py" ${BENCH_ARGS[@]+"${BENCH_ARGS[@]}"} >"$log.out" 2>"$log.err" || rc=$?
            ;;
    esac
    rows_before=$(wc -l < "$OUT")
    "${SUMMARIZE[@]}" tag --round "$round" --side "$side" < "$log.out" >> "$OUT" || true
    # The load average once the side is done (pebble-bench also reports it at its start and end).
    printf '{"kind": "load", "when": "after", "round": %s, "side": "%s", "loadavg": [%s]}\n' \
        "$round" "$side" "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ',')" >> "$OUT"
    rows_before=$((rows_before + 1))
    rows_after=$(wc -l < "$OUT")
    say "round $round: $side exited with status $rc, $((rows_after - rows_before)) result rows"
    if [[ $rc -ne 0 ]]; then
        NOTES+=("$side side exited with status $rc in round $round (see $log.err)")
        tail -n 10 "$log.err" >&2 || true
    elif [[ $rows_after -eq $rows_before ]]; then
        NOTES+=("$side side printed no result rows in round $round (see $log.out)")
    fi
    return 0
}

for ((r = 1; r <= ROUNDS; r++)); do
    if (( r % 2 == 1 )); then
        run_side swift "$r"; run_side python "$r"
    else
        run_side python "$r"; run_side swift "$r"
    fi
done

REPORT_ARGS=()
for n in ${NOTES[@]+"${NOTES[@]}"}; do REPORT_ARGS+=(--note "$n"); done
echo
"${SUMMARIZE[@]}" report "$OUT" ${REPORT_ARGS[@]+"${REPORT_ARGS[@]}"} | tee "$OUTDIR/$TS.md"
echo
say "raw results: $OUT"
say "logs: $LOGS/  table: $OUTDIR/$TS.md"
