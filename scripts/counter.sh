#!/usr/bin/env bash
# Shared memory under a lock (section 4 of the tutorial): 20 worker processes decrement a
# count in a shared segment, under a lock that survives kill -9; then the same without the
# lock, which loses updates; then the steps by hand (init, two workers at once, show,
# clean). Builds once; fails unless the locked counts are exact. Twin: counter.ps1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
build

step "1. the tutorial: 20 worker processes, one decrement each, under the lock"
"$BIN/counter" run --workers 20 --decrements 1 --value 20

step "2. 20 workers x 1000 decrements under the lock: exact, or it fails"
"$BIN/counter" run --workers 20 --decrements 1000 --quiet

step "3. the tutorial's warning made visible: the same without the lock (--lock none)"
"$BIN/counter" run --workers 20 --decrements 200 --lock none --quiet

step "4. by hand: init, two workers at once, show, clean"
name="counter-demo-$$"
trap '"$BIN/counter" clean "$name" >/dev/null 2>&1 || true' EXIT
"$BIN/counter" init "$name" --value 100
"$BIN/counter" work "$name" --decrements 50 --pause 1ms --quiet &
first=$!
"$BIN/counter" work "$name" --decrements 50 --pause 1ms --quiet
wait "$first"
shown="$("$BIN/counter" show "$name")"
echo "$shown"
grep -qx 'expected: 0 (exact)' <<<"$shown" || { echo "counter: the count is not exact" >&2; exit 1; }
"$BIN/counter" clean "$name"

step "counter: every count under the lock was exact"
