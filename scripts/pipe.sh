#!/usr/bin/env bash
# The pipe (section 1 of the tutorial), three ways: a shell pipeline, a parent feeding its
# spawned child (and beside it the tutorial's own program, python/tutorial/s1_pipe.py, when
# python3 is installed), and two unrelated processes over a local socket. Builds once,
# checks that every consumer got exactly N baozi (N=10 by default) and the tutorial's child
# 0 to 9 in order. Twin: pipe.ps1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N="${N:-10}"
build

step "1. shell pipeline: producer stdio | consumer stdio"
"$BIN/producer" stdio -n "$N" | "$BIN/consumer" stdio --expect "$N"

step "2. parent and child: producer --spawn-consumer (an anonymous pipe)"
"$BIN/producer" --spawn-consumer -n "$N" -- --name child --expect "$N"

step "3. the tutorial's own pipe beside it: python/tutorial/s1_pipe.py (one a second there; here 0.02 s)"
# The same parent and child, the numbers 0 to 9; a multiprocessing Pipe carries pickled
# Python objects, so only its own child can read it, where ours is bytes any program reads.
if have_python; then
    out=$(python3 python/tutorial/s1_pipe.py 0.02)
    echo "$out"
    want=$(for i in 0 1 2 3 4 5 6 7 8 9; do echo "c1 收到包子:$i"; done; echo "进程间通信-管道-主进程")
    [ "$out" = "$want" ] || { echo "pipe: the tutorial's child did not get 0 to 9 in order" >&2; exit 1; }
fi

step "4. two unrelated processes: consumer -l local:NAME, then producer local:NAME"
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
