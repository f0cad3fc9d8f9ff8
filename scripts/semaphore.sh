#!/usr/bin/env bash
# The semaphore (section 5 of the tutorial): 13 worker processes, 5 permits, at most 5
# inside at once, short random stays; then by hand a permit whose holder is killed with
# kill -9 and comes back to a waiting worker. Builds once; fails if more than K were ever
# inside or the permit stays lost. Twin: semaphore.ps1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
build

step "1. the tutorial: 13 workers, 5 permits, each stays a random 0 to 300 ms"
"$BIN/counter" semaphore --workers 13 --permits 5 --stay 0..300ms

step "2. a crash: the holder of the only permit is killed with kill -9; the waiter gets in"
name="semaphore-demo-$$"
holder_log="$(mktemp)"
waiter_log="$(mktemp)"
holder=
trap '[ -z "$holder" ] || kill -9 "$holder" 2>/dev/null || true
      "$BIN/counter" clean "$name" >/dev/null 2>&1 || true
      rm -f "$holder_log" "$waiter_log"' EXIT
# Waits until FILE has a line containing TEXT, polling for up to 30 s.
wait_line() {
    local file=$1 text=$2 i
    for ((i = 0; i < 600; i++)); do
        grep -qF "$text" "$file" && return 0
        sleep 0.05 # poll for the line
    done
    echo "no line with '$text' in $file after 30 s:" >&2
    cat "$file" >&2
    return 1
}
"$BIN/counter" init "$name" --permits 1
"$BIN/counter" enter "$name" --stay 60s >"$holder_log" &
holder=$!
disown "$holder" # (so bash prints no job-control line when it is killed)
wait_line "$holder_log" "enters with permit"
cat "$holder_log"
"$BIN/counter" enter "$name" --stay 100ms >"$waiter_log" &
waiter=$!
wait_line "$waiter_log" "waits for a permit"
echo "kill -9 $holder (the holder)"
kill -9 "$holder"
wait "$waiter"
cat "$waiter_log"
grep -q "came back from a holder that died inside" "$waiter_log"
"$BIN/counter" show "$name"
"$BIN/counter" clean "$name"

step "semaphore: never more than K inside, and the killed holder's permit came back"
