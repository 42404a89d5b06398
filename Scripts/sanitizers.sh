#!/usr/bin/env bash
# Runs the test suite under the thread sanitizer and the address sanitizer, each in a build folder
# of its own. Usage: Scripts/sanitizers.sh [thread|address]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(thread address)
for sanitizer in "${sanitizers[@]}"; do
    echo "== swift test --sanitize=$sanitizer"
    swift test --sanitize="$sanitizer" --scratch-path ".build-$sanitizer"
done
