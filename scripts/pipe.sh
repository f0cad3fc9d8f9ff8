#!/usr/bin/env bash
# The pipe (section 1 of the tutorial), three ways: a shell pipeline, a parent feeding its
# spawned child, and two unrelated processes over a local socket. Builds once, checks that
# every consumer got exactly N baozi (N=10 by default). Twin: pipe.ps1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N="${N:-10}"
build

step "1. shell pipeline: producer stdio | consumer stdio"
"$BIN/producer" stdio -n "$N" | "$BIN/consumer" stdio --expect "$N"

step "2. parent and child: producer --spawn-consumer (an anonymous pipe)"
"$BIN/producer" --spawn-consumer -n "$N" -- --name child --expect "$N"

step "3. two unrelated processes: consumer -l local:NAME, then producer local:NAME"
name="baozi-pipe-$$"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$BIN/consumer" -l "local:$name" --expect "$N" 2>"$log" &
consumer=$!
wait_ready "$log" >/dev/null
"$BIN/producer" "local:$name" -n "$N" --interval 50ms
status=0
wait "$consumer" || status=$?
cat "$log" >&2
[ "$status" -eq 0 ] || { echo "pipe: the consumer failed ($status)" >&2; exit 1; }

step "pipe: all three flavours delivered $N baozi each"
