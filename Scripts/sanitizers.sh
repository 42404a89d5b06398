#!/usr/bin/env bash
# Runs the test suite under the thread sanitizer and the address sanitizer, each in a build folder
# of its own. Usage: Scripts/sanitizers.sh [thread|address]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)
for sanitizer in "${sanitizers[@]}"; do
    echo "== swift test --sanitize=$sanitizer"
    # The thread sanitizer cannot see how Synchronization.Mutex hands a contended lock over: the
    # TSan build swaps it for a pthread mutex (Sources/Pebble/Support/StateLock.swift).
    flags=(); [ "$sanitizer" = thread ] && flags=(-Xswiftc -DPEBBLE_TSAN)
    # A worker that crashes on purpose (SIGSEGV) dies of the signal, as it does without the
    # sanitizer, instead of printing the sanitizer's own multi-kilobyte crash report into the
    # stderr the crash-diagnostics tests read.
    export TSAN_OPTIONS="handle_segv=0 ${TSAN_OPTIONS:-}" ASAN_OPTIONS="handle_segv=0 ${ASAN_OPTIONS:-}"
    # Every process, workers included, runs several times slower under a sanitizer: the
    # reliability scenarios run a tenth of their load (PEBBLE_LIGHT).
    # Leaks reported in Foundation's and XCTest's own code are suppressed (Scripts/lsan.supp).
    # One test at a time: under a sanitizer every blocking wait of a sync test holds one of the two
    # threads of Swift's cooperative pool several times longer, and run in parallel they starved
    # unrelated quick tests past their time limits.
    PEBBLE_LIGHT=1 LSAN_OPTIONS="suppressions=$PWD/Scripts/lsan.supp" swift test --no-parallel --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" "${flags[@]}"
done
