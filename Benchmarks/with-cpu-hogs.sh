#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command beside N CPU hogs (busy shell loops, one process each), then stops them: how a
# row behaves on a machine whose CPUs other processes keep busy.
#
#   Benchmarks/with-cpu-hogs.sh N command [arguments...]
#   Benchmarks/with-cpu-hogs.sh 3 .build/release/pebble-bench --metrics M2-async
#
# Prints the load average before and after the command on stderr.
set -euo pipefail

[[ $# -ge 2 && $1 =~ ^[0-9]+$ ]] || { sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
count=$1
shift

hogs=()
stop_hogs() { [[ ${#hogs[@]} -eq 0 ]] || { kill "${hogs[@]}" 2>/dev/null || true; wait "${hogs[@]}" 2>/dev/null || true; }; }
trap stop_hogs EXIT
for _ in $(seq 1 "$count"); do
    sh -c 'while :; do :; done' &
    hogs+=($!)
done
sleep 1
echo "with-cpu-hogs: $count hogs, load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
status=0
"$@" || status=$?
echo "with-cpu-hogs: load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
exit "$status"
