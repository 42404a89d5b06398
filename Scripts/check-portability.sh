#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks that every Swift file builds against Musl as well as Glibc, without a Musl SDK (none can be
# installed here): the C library is imported only through the `#if canImport(Glibc) … #elseif
# canImport(Musl)` ladder, and no name is qualified with a module that exists on one of the two.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files '*.swift')
# 1. No `Glibc.name` or `Musl.name`: the other library has no such module.
if grep -nE '\b(Glibc|Musl)\.[a-zA-Z_]' $files; then
    echo "error: a name qualified with Glibc or Musl breaks the other C library's build" >&2
    status=1
fi
# 2. Every `import Glibc` is the first branch of a ladder whose next branch imports Musl.
for file in $(grep -lE '^\s*import Glibc' $files); do
    if ! awk '
        /^#if canImport\(Glibc\)/ { ladder = 1; next }
        ladder == 1 && /^[[:space:]]*import Glibc/ { ladder = 2; next }
        ladder == 2 && /^#elseif canImport\(Musl\)/ { ladder = 3; next }
        ladder == 3 && /^[[:space:]]*import Musl/ { ok++; ladder = 0; next }
        /^[[:space:]]*import Glibc/ { bad = 1 }
        { if (ladder != 0 && ladder != 3) ladder = 0 }
        END { exit (bad || !ok) }
    ' "$file"; then
        echo "error: $file imports Glibc outside a '#if canImport(Glibc) / #elseif canImport(Musl)' ladder" >&2
        status=1
    fi
done
# 3. Glibc-only spellings that Musl names differently.
if grep -nE '\b(__glibc|__GLIBC__|gnu_get_libc_version)\b' $files; then
    echo "error: glibc-only names" >&2
    status=1
fi
[ $status -eq 0 ] && echo "portability: every Swift file imports the C library through the Glibc/Musl ladder"
exit $status
