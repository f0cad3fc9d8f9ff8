#!/usr/bin/env bash
# The queue (section 2 of the tutorial): a broker, two producers and two consumers, at the
# tutorial's pace (shortened), every item eaten and the totals checked; then a consumer
# killed with kill -9 while it holds leased items, and every item still eaten. Between them,
# the tutorial's own queue (python/tutorial/s2_queue.py, when python3 is installed), its 10
# baozi checked. Builds once. N items per producer (N=10 by default). The kill -9 run is
# drawn in target/queue-timeline.svg (broker --timeline). Twin: queue.ps1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
N="${N:-10}"
build

dir="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

# Fails unless the consumers' lines ($2...) name every baozi 0..N-1 of each producer in $1.
check_eaten() {
    local producers=$1
    shift
    local want=$(($(wc -w <<<"$producers") * N)) got
    got=$(cat "$@" | awk '$2 == "ate" { print $6, $4 }' | sort -u | wc -l)
    for p in $producers; do
        for ((i = 0; i < N; i++)); do
            grep -q "ate baozi $i from $p\b" "$@" || { echo "queue: baozi $i from $p was never eaten" >&2; exit 1; }
        done
    done
    [ "$got" -eq "$want" ] || { echo "queue: $got distinct items eaten, $want expected" >&2; exit 1; }
    echo "every one of the $want baozi was eaten"
}

step "1. the broker, two consumers, two producers (random pauses, as in the tutorial)"
q="local:baozi-queue-$$"
"$BIN/broker" "$q" --producers 2 2>"$dir/broker.log" &
broker=$!
pids+=("$broker")
wait_ready "$dir/broker.log" >/dev/null
for c in c1 c2; do
    "$BIN/consumer" "$q" --name "$c" --eat 0..20ms --prefetch 1 >"$dir/$c.out" &
    pids+=($!)
done
for p in p1 p2; do
    "$BIN/producer" "$q" --name "$p" -n "$N" --delay 0..20ms 2>/dev/null &
    pids+=($!)
done
"$BIN/broker" --status "$q" # the live numbers, from another process
for pid in "${pids[@]:1}"; do wait "$pid"; done
status=0
wait "$broker" || status=$?
cat "$dir/c1.out" "$dir/c2.out"
cat "$dir/broker.log"
[ "$status" -eq 0 ] || { echo "queue: the broker failed ($status)" >&2; exit 1; }
grep -q "received $((2 * N)) from 2 producers" "$dir/broker.log" || { echo "queue: wrong totals" >&2; exit 1; }
check_eaten "p1 p2" "$dir/c1.out" "$dir/c2.out"

step "2. the tutorial's own queue: python/tutorial/s2_queue.py (pauses of 1-3 s there; here 1-3 hundredths)"
# One cook and one eater, children of one program, a multiprocessing.Queue between them and
# None as the end. Its parent prints its line and leaves at once; the children go on (the
# command substitution waits for them: they hold its pipe). Ours are unrelated programs,
# and the broker knows when the run is over.
if have_python; then
    out=$(python3 python/tutorial/s2_queue.py 0.01)
    echo "$out"
    # Colours off; two processes print into one pipe, so a line may break into another's:
    # count the words, not the lines ("PID 生产了 包子N" made, "PID包子N" eaten).
    plain=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$out")
    made=$(grep -o ' 生产了 包子[0-9]' <<<"$plain" | wc -l)
    eaten=$(grep -o '[0-9]包子[0-9]' <<<"$plain" | cut -c 2- | tr -dc '0-9')
    [ "$made" = 10 ] && [ "$eaten" = 0123456789 ] ||
        { echo "queue: the tutorial's queue made $made baozi and ate '$eaten', not 10 and 0 to 9" >&2; exit 1; }
    echo "the tutorial's cook made 10 baozi and its eater ate 0 to 9, in order"
fi

step "3. kill -9 of a consumer holding leased items: they go to another consumer"
pids=()
q="local:baozi-queue-kill-$$"
picture="$PWD/target/queue-timeline.svg"
"$BIN/broker" "$q" --producers 1 --timeline "$picture" 2>"$dir/broker.log" &
broker=$!
pids+=("$broker")
wait_ready "$dir/broker.log" >/dev/null
"$BIN/consumer" "$q" --name doomed --eat 5ms --prefetch 8 >"$dir/doomed.out" &
doomed=$!
pids+=("$doomed")
disown "$doomed" # (so bash prints no job-control line when it is killed)
"$BIN/producer" "$q" -n "$((N * 10))" --name p1 2>/dev/null
for ((i = 0; i < 600; i++)); do
    [ "$(wc -l <"$dir/doomed.out")" -ge 5 ] && break
    sleep 0.05 # poll for its fifth line
done
echo "killing the consumer 'doomed' (pid $doomed) after $(wc -l <"$dir/doomed.out") items"
kill -9 "$doomed"
"$BIN/consumer" "$q" --name survivor -q
status=0
wait "$broker" || status=$?
cat "$dir/broker.log"
[ "$status" -eq 0 ] || { echo "queue: the broker failed ($status)" >&2; exit 1; }
grep -q "given back for redelivery" "$dir/broker.log" || { echo "queue: nothing was given back" >&2; exit 1; }
N=$((N * 10))
grep -q "received $N from 1 producer (p1 $N); eaten $N by 2 consumers" "$dir/broker.log" ||
    { echo "queue: not every item was acknowledged" >&2; exit 1; }
grep -q "acknowledged once each" "$picture" || { echo "queue: the picture does not show each eaten once" >&2; exit 1; }
echo "the run is drawn in $picture: open it in a browser"

step "queue: every baozi eaten, also after a consumer was killed holding some"
