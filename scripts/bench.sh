#!/usr/bin/env bash
# The figures, all measured in this one run on this machine: every row has our programs, the
# tutorial's Python doing the same work (scripts/bench/python/, sleeps and prints removed) and
# a raw floor (the same OS mechanism driven by a minimal Rust program, crate floor/), each
# figure the median of several runs with its spread (min-max). Prints the table with ratios
# and each row's target, met or missed; asserts nothing about speed (speed stays out of
# `cargo test`), only that every row ran and its counts were right.
#
#   scripts/bench.sh                  every row, full sizes (several minutes)
#   scripts/bench.sh --quick          tiny sizes: checks that the harness still runs (CI)
#   scripts/bench.sh echo counter     only these rows (see ROWS below)
#   scripts/bench.sh --runs 7         runs per figure (default 5; 3 for the slow ones)
#
# Writes target/bench/: results.csv (one line per figure, every run's value), json/ (each
# hyperfine run's --export-json), machine.txt, table.md and bench.svg (the chart of the
# ratios, drawn from results.csv by scripts/bench/chart.py). Progress goes to stderr.
# Release build unless BAOZI_PROFILE says otherwise (CI's quick run uses the debug build it
# already has: quick figures mean nothing anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
BAOZI_PROFILE="${BAOZI_PROFILE:-release}"
. scripts/lib.sh

ROWS=(pipe_items pipe_bulk echo echo_load queue counter semaphore startup shm)
quick=0
runs=5
only=()
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --runs)
        runs=$2
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        if [[ " ${ROWS[*]} " != *" $1 "* ]]; then
            echo "bench: unknown row $1 (rows: ${ROWS[*]})" >&2
            exit 2
        fi
        only+=("$1")
        ;;
    esac
    shift
done
[ ${#only[@]} -gt 0 ] || only=("${ROWS[@]}")
# Slow figures (seconds per run at full size) get fewer runs.
slow_runs=$((runs < 3 ? runs : 3))
if [ "$quick" = 1 ]; then
    runs=2
    slow_runs=2
fi
# Full size, or the quick one.
size() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }

# hyperfine, from Debian's packages, installed when missing (as scripts/test.sh does for nc).
if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
    else
        echo "bench: please install Debian's hyperfine package first" >&2
        exit 1
    fi
fi
# The interpreter itself: a version manager's shim (pyenv) would add its own start-up.
PY="$(python3 -c 'import sys; print(sys.executable)')"
PYDIR=scripts/bench/python
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
# results.py's own checks first: a run whose table cannot be printed is a run lost.
if ! out=$("$PY" scripts/bench/test_results.py 2>&1); then
    echo "$out" >&2
    echo "bench: scripts/bench/results.py fails its checks (scripts/bench/test_results.py)" >&2
    exit 1
fi

started=$(date +%s)
progress() { printf 'bench [%3ss] %s\n' "$(($(date +%s) - started))" "$*" >&2; }
progress "building ($BAOZI_PROFILE)"
build
FL="$BIN" # the floor programs are members of the workspace

OUT=target/bench
rm -rf "$OUT"
mkdir -p "$OUT/json" "$OUT/log"
CSV="$OUT/results.csv"
tmp="$(mktemp -d)"
# Stops the listeners this script started (each one's pid is in $tmp/NAME.pid).
cleanup() {
    local f
    for f in "$tmp"/*.pid; do
        [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

{
    echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), Linux $(uname -r)"
    echo "when: $(date -u '+%Y-%m-%d %H:%M UTC'); $(uptime | sed 's/.*\(load average\)/\1/')"
    echo "build: $BAOZI_PROFILE, $(rustc --version); $("$PY" --version), $(hyperfine --version)"
    echo "mode: $([ "$quick" = 1 ] && echo "--quick (tiny sizes: the figures mean nothing)" || echo full), runs per figure: $runs (slow ones: $slow_runs)"
} >"$OUT/machine.txt"

# A free TCP port on 127.0.0.1 for the listeners that cannot say which one they chose in a
# one-line command (hyperfine runs each command as it is).
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# hf NAME UNIT WORK RUNS [HYPERFINE OPTIONS] -- SPEC COMMAND [SPEC COMMAND]...
# Runs the commands under hyperfine (each RUNS times), keeps its JSONs, and records one figure
# per command: WORK / seconds for a rate UNIT, milliseconds for "ms". A command that fails
# stops the bench (hyperfine fails on a non-zero exit code), with the log.
hf() {
    local name=$1 unit=$2 work=$3 n=$4 opts=() specs=() cmds=()
    shift 4
    while [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    shift
    while [ $# -gt 0 ]; do
        specs+=("$1")
        cmds+=("$2")
        shift 2
    done
    # In rounds (at most 5), every command once or a few times per round, so that a change in
    # the machine's load falls on all the commands of a row alike.
    local per=$(((n + 4) / 5)) r jsons=()
    local rounds=$(((n + per - 1) / per))
    for ((r = 1; r <= rounds; r++)); do
        progress "$name: ${#cmds[@]} command(s), round $r/$rounds ($per run(s) each)"
        jsons+=("$OUT/json/$name.$r.json")
        if ! hyperfine --style none --runs "$per" "${opts[@]}" --export-json "$OUT/json/$name.$r.json" \
            "${cmds[@]}" >"$OUT/log/$name.log" 2>&1; then
            echo "bench: $name failed:" >&2
            cat "$OUT/log/$name.log" "$tmp"/*.err 2>/dev/null >&2
            exit 1
        fi
    done
    "$PY" scripts/bench/results.py hyperfine "$CSV" "$(IFS=:; echo "${jsons[*]}")" "$unit" "$work" "${specs[@]}"
}

# add SPEC UNIT VALUE...: a figure measured by hand (the runs' values).
add() { "$PY" scripts/bench/results.py add "$CSV" "$@"; }

# A listener in the background, its ready lines awaited; prints the addresses. Its log is
# $tmp/NAME.err, its pid in $tmp/NAME.pid (for stop and cleanup).
serve() {
    local name=$1 n=$2
    shift 2
    "$@" >/dev/null 2>"$tmp/$name.err" &
    echo $! >"$tmp/$name.pid"
    wait_ready "$tmp/$name.err" "$n"
}
stop() {
    kill "-${2:-TERM}" "$(cat "$tmp/$1.pid")" 2>/dev/null || true
    rm -f "$tmp/$1.pid"
}

# "... median 12.3us, p99 45.6us ..." -> "12.3 45.6" (in microseconds).
latency() {
    local re='median ([0-9.]+)(us|ms), p99 ([0-9.]+)(us|ms)'
    if ! [[ $1 =~ $re ]]; then
        echo "bench: no latency in: $1" >&2
        return 1
    fi
    awk -v a="${BASH_REMATCH[1]}" -v ua="${BASH_REMATCH[2]}" \
        -v b="${BASH_REMATCH[3]}" -v ub="${BASH_REMATCH[4]}" \
        'BEGIN { printf "%g %g\n", a * (ua == "ms" ? 1000 : 1), b * (ub == "ms" ? 1000 : 1) }'
}

# ---------------------------------------------------------------------------------------
# Rows: one function each. A row records its figures with hf or add; the SPEC of a figure
# is row|title|case|who|python case|floor case (see scripts/bench/results.py).

row_pipe_items() {
    local n bytes title port
    n=$(size 1000000 10000)
    # The floor moves exactly the bytes our n items take on the wire, in 64 KiB writes.
    bytes=$("$BIN/producer" stdio -n "$n" 2>/dev/null | wc -c)
    title="pipe, small items: $n items ($((bytes / n)) bytes each on the wire)"
    port=$(free_port)
    local s="pipe-items|$title"
    # The tutorial's Pipe() is a socketpair on Linux (a Unix socket): it is what ours over
    # local: and tcp: are compared with; over stdio, an OS pipe: Pipe(duplex=False).
    local py="Pipe(), a socketpair" py1="Pipe(duplex=False), an OS pipe"
    local args=()
    for case in stdio local: tcp:; do
        local addr=stdio
        [ "$case" = local: ] && addr="local:bench-items-$$"
        [ "$case" = tcp: ] && addr="tcp:127.0.0.1:$port"
        if [ "$case" = stdio ]; then
            args+=("$s|stdio|ours|$py1|" "$BIN/producer stdio -n $n | $BIN/consumer stdio -q --expect $n"
                "$s|stdio|floor||" "$FL/floor-pipe send stdio --bytes $bytes | $FL/floor-pipe recv stdio --bytes $bytes")
        else
            args+=("$s|$case|ours|$py|" "timeout 300 $BIN/consumer -l $addr -q --expect $n 2>>$tmp/items.err & $BIN/producer $addr -n $n 2>>$tmp/items.err; wait \$!"
                "$s|$case|floor||" "timeout 300 $FL/floor-pipe recv -l $addr --bytes $bytes 2>>$tmp/items.err & $FL/floor-pipe send $addr --bytes $bytes; wait \$!")
        fi
    done
    args+=("$s|$py1|python||" "$PY $PYDIR/pipe_items.py $n --oneway"
        "$s|$py|python||" "$PY $PYDIR/pipe_items.py $n")
    hf pipe-items items/s "$n" "$runs" -- "${args[@]}"
}

# Where the scheduler puts the two ends of a pipe moving bulk decides its speed (on one CPU
# the bytes stay in that CPU's cache; split, every byte crosses to the other CPU's, and it
# goes at half the speed), and it puts ours and the floor apart in different shares of runs.
# So over stdio each program also runs pinned both ways, Python too (--cpus), and the free
# runs' placement, sampled over one extra run, goes to machine.txt.
placement() { "$PY" scripts/bench/placement.py "$@" >>"$OUT/machine.txt"; }

row_pipe_bulk() {
    local total payload n size_name title args=() places=(free) placed on c0 c1 cpus
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        places+=(split together)
    else
        progress "pipe bulk: no taskset or one CPU only: no pinned figures"
    fi
    total=$(size $((2 << 30)) $((16 << 20)))
    title="pipe, bulk: $((total >> 20)) MiB in all (GiB/s)"
    local s="pipe-bulk|$title"
    local gib
    gib=$(awk -v t="$total" 'BEGIN { print t / 2^30 }')
    for payload in 1048576 65536; do
        n=$((total / payload))
        size_name="$((payload >> 10)) KiB"
        [ "$payload" = 1048576 ] && size_name="1 MiB"
        local py="Pipe().send_bytes, $size_name" py1="Pipe(duplex=False).send_bytes, $size_name"
        local addr="local:bench-bulk-$$"
        for placed in "${places[@]}"; do
            case $placed in
            free) on="" c0="" c1="" cpus="" ;;
            split) on=", split over 2 CPUs" c0="taskset -c 0 " c1="taskset -c 1 " cpus=" --cpus 1,0" ;;
            together) on=", on 1 CPU" c0="taskset -c 0 " c1="taskset -c 0 " cpus=" --cpus 0,0" ;;
            esac
            local ours="$c1$BIN/producer stdio -n $n --payload $payload | $c0$BIN/consumer stdio -q --expect $n"
            local floor="$c1$FL/floor-pipe send stdio --bytes $total --chunk $payload | $c0$FL/floor-pipe recv stdio --bytes $total --chunk $payload"
            args+=("$s|stdio, $size_name items$on|ours|$py1$on|" "$ours"
                "$s|stdio, $size_name items$on|floor||" "$floor")
            [ "$placed" = free ] || args+=("$s|$py1$on|python||" "$PY $PYDIR/pipe_bulk.py $n $payload --oneway$cpus")
            if [ "$placed" = free ]; then
                placement "pipe placement, bulk, ours, $size_name items" producer,consumer "$ours"
                placement "pipe placement, bulk, floor, $size_name items" floor-pipe "$floor"
            fi
        done
        args+=("$s|local:, $size_name items|ours|$py|" "timeout 300 $BIN/consumer -l $addr -q --expect $n 2>>$tmp/bulk.err & $BIN/producer $addr -n $n --payload $payload 2>>$tmp/bulk.err; wait \$!"
            "$s|local:, $size_name items|floor||" "timeout 300 $FL/floor-pipe recv -l $addr --bytes $total --chunk $payload 2>>$tmp/bulk.err & $FL/floor-pipe send $addr --bytes $total --chunk $payload; wait \$!"
            "$s|$py1|python||" "$PY $PYDIR/pipe_bulk.py $n $payload --oneway"
            "$s|$py|python||" "$PY $PYDIR/pipe_bulk.py $n $payload")
    done
    hf pipe-bulk GiB/s "$gib" "$runs" -- "${args[@]}"
}

row_echo() {
    local trips kinds=(tcp unix local udp) ours floor py kind i who
    trips=$(size 100000 1000)
    local title="echo round trip: $trips round trips, one client (microseconds, lower is better)"
    local sock="$tmp/echo"
    mapfile -t ours < <(serve echo-ours 4 "$BIN/server" tcp:127.0.0.1:0 "unix:$sock-ours.sock" \
        "local:bench-echo-$$" udp:127.0.0.1:0 --prefix 'test: ')
    mapfile -t floor < <(serve echo-floor 4 "$FL/floor-echo" serve tcp:127.0.0.1:0 "unix:$sock-floor.sock" \
        "local:bench-echo-floor-$$" udp:127.0.0.1:0 --prefix 'test: ')
    # The tutorial's server serves one address, one client at a time: one per transport.
    py=("$(serve echo-py-tcp 1 "$PY" "$PYDIR/echo_server.py" tcp:127.0.0.1:0)"
        "$(serve echo-py-unix 1 "$PY" "$PYDIR/echo_server.py" "unix:$sock-py.sock")"
        "$(serve echo-py-local 1 "$PY" "$PYDIR/echo_server.py" "local:bench-echo-py-$$")"
        "$(serve echo-py-udp 1 "$PY" "$PYDIR/echo_server.py" udp:127.0.0.1:0)")
    declare -A p50 p99
    # Interleaved: run i of every transport and program, then run i + 1, so that a change
    # in the machine's load falls on all of them alike.
    for ((i = 1; i <= slow_runs; i++)); do
        for k in 0 1 2 3; do
            kind=${kinds[$k]}
            progress "echo: run $i/$slow_runs, $kind: ours, floor, Python"
            local out lat
            for who in ours floor python; do
                case $who in
                ours) out=$("$BIN/client" --count "$trips" "${ours[$k]}" 2>&1) ;;
                floor) out=$("$FL/floor-echo" ping "${floor[$k]}" --count "$trips" --prefix 'test: ' 2>&1) ;;
                python) out=$("$PY" "$PYDIR/echo_client.py" "${py[$k]}" "$trips" 2>&1) ;;
                esac
                lat=$(latency "$out")
                p50[$who,$kind]+=" ${lat% *}"
                p99[$who,$kind]+=" ${lat#* }"
            done
        done
    done
    stop echo-ours INT
    stop echo-floor
    for kind in tcp unix local udp; do stop "echo-py-$kind"; done
    for kind in tcp unix local udp; do
        for who in ours floor python; do
            # shellcheck disable=SC2086 # the values are words
            add "echo|$title|$kind:|$who||" "us p50" ${p50[$who,$kind]}
            # shellcheck disable=SC2086
            add "echo|$title|$kind:|$who||" "us p99" ${p99[$who,$kind]}
        done
    done
}

row_echo_load() {
    local clients trips i who out re='([0-9]+) round trips/s, ([0-9]+) errors'
    clients=$(size 1000 20)
    trips=$(size 100 10)
    # Every client is a socket in floor-load and another in the server.
    if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((clients * 2 + 100)) ]; then
        ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
        if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((clients * 2 + 100)) ]; then
            echo "bench: echo_load needs $((clients * 2 + 100)) open files, ulimit -n is $(ulimit -n)" >&2
            exit 1
        fi
    fi
    local title="echo under load: $clients clients at once x $trips round trips (round trips/s; Python: the tutorial's server, a thread per client)"
    declare -A addr values
    addr[ours]=$(serve load-ours 1 "$BIN/server" tcp:127.0.0.1:0 --prefix 'test: ' --max-clients $((clients + 100)))
    addr[floor]=$(serve load-floor 1 "$FL/floor-echo" serve tcp:127.0.0.1:0 --prefix 'test: ')
    addr[python]=$(serve load-python 1 "$PY" "$PYDIR/echo_server.py" --threaded tcp:127.0.0.1:0)
    for ((i = 1; i <= slow_runs; i++)); do
        for who in ours floor python; do
            progress "echo_load: run $i/$slow_runs, $who: $clients clients"
            # floor-load exits non-zero unless every round trip was answered right.
            out=$("$FL/floor-load" "${addr[$who]}" --clients "$clients" --trips "$trips" --prefix 'test: ' 2>&1) || {
                echo "bench: echo_load against $who failed: $out" >&2
                exit 1
            }
            [[ $out =~ $re ]] && [ "${BASH_REMATCH[2]}" = 0 ] || {
                echo "bench: echo_load against $who: $out" >&2
                exit 1
            }
            values[$who]+=" ${BASH_REMATCH[1]}"
        done
    done
    stop load-ours INT
    stop load-floor
    stop load-python
    for who in ours floor python; do
        # shellcheck disable=SC2086
        add "echo-load|$title|tcp:|$who||" "round trips/s" ${values[$who]}
    done
}

# The queue through the broker (tutorial section 2): every item handed out, eaten and
# acknowledged before the broker's run ends (broker --producers P exits 0 only then, and
# every producer checks the broker's receipt for its share), against the tutorial's
# multiprocessing.Queue (scripts/bench/python/mp_queue.py N P C), the same producers and
# consumers through Redis Streams (a redis-server of the bench's own, on a free loopback
# port, no persistence; left out, with a line saying so, where redis-server is missing) and,
# as the floor, one raw local socket carrying the same bytes as the producers' streams, one
# hop (the broker is a second hop, plus the acknowledgements). The Redis rows have their own
# floor: what that server takes from a client at best, redis-benchmark -P 64 XADD (pipelined,
# one entry of our size a command; putting only: taking and acknowledging cost more), with one
# client for 1 x 1 and three for 3 x 2.
# redis_floor PORT N SPEC CLIENTS [SPEC CLIENTS]...: the Redis rows' floor, redis-benchmark
# -P 64 putting N entries of our size (a field `baozi`, "SEQ PID NAME") into a stream of
# its own with CLIENTS clients, slow_runs times each, interleaved; the stream is deleted
# after each run. Left out, with a line saying so, where redis-benchmark is missing.
redis_floor() {
    local port=$1 n=$2 i k rps
    shift 2
    if ! command -v redis-benchmark >/dev/null; then
        progress "queue: no redis-benchmark here (Debian: redis-tools), so no Redis floor"
        return 0
    fi
    local specs=() clients=() values=()
    while [ $# -gt 0 ]; do
        specs+=("$1")
        clients+=("$2")
        values+=("")
        shift 2
    done
    for ((i = 1; i <= slow_runs; i++)); do
        for k in "${!specs[@]}"; do
            progress "queue: Redis floor, run $i/$slow_runs, ${clients[$k]} client(s)"
            # --csv: a header, then "XADD ...","RPS",...; the rate is the 4th "-separated field.
            rps=$(redis-benchmark -p "$port" -P 64 -n "$n" -c "${clients[$k]}" --csv \
                XADD "bench-floor-$$" '*' baozi "0 $$ p1" | tail -n 1 | cut -d '"' -f 4)
            redis-cli -p "$port" DEL "bench-floor-$$" >/dev/null
            [[ $rps =~ ^[0-9.]+$ ]] || {
                echo "bench: redis-benchmark gave no rate: $rps" >&2
                exit 1
            }
            values[k]+=" $rps"
        done
    done
    for k in "${!specs[@]}"; do
        # shellcheck disable=SC2086 # the values are words
        add "${specs[$k]}" items/s ${values[$k]}
    done
}

row_queue() {
    local n title bytes
    n=$(size 200000 2000)
    bytes=$("$BIN/producer" stdio -n "$n" 2>/dev/null | wc -c)
    title="queue: $n items through a queue, every one acknowledged (items/s)"
    local s="queue|$title" fl="raw local socket, same bytes, one hop"
    local floor="timeout 300 $FL/floor-pipe recv -l local:bench-qf-\$\$ --bytes $bytes 2>>$tmp/queue.err & $FL/floor-pipe send local:bench-qf-\$\$ --bytes $bytes; wait \$!"
    # One broker per run, on a name of its own ($$ is the run's shell).
    local q='local:bench-q-$$'
    local third=$((n / 3))
    local redis1=() redis3=()
    if command -v redis-server >/dev/null; then
        local port
        port=$(free_port)
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$tmp" >"$tmp/redis.log" 2>&1 &
        echo $! >"$tmp/redis.pid"
        local i
        for ((i = 0; i < 600; i++)); do
            redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
            sleep 0.05 # poll for the server's answer
        done
        local r="redis://127.0.0.1:$port/bench-\$\$"
        local rf1="redis-benchmark -P 64 XADD, 1 client" rf3="redis-benchmark -P 64 XADD, 3 clients"
        redis1=("$s|1 x 1, through Redis Streams|ours|1 x 1|$rf1" "$BIN/consumer $r -q --producers 1 --expect $n 2>>$tmp/queue.err & $BIN/producer $r -n $n 2>>$tmp/queue.err; wait \$!")
        redis3=("$s|3 producers x 2 consumers, through Redis Streams|ours|3 producers x 2 consumers|$rf3" "for c in c1 c2; do $BIN/consumer $r --name \$c -q --producers 3 2>>$tmp/queue.err & done; for p in p1 p2 p3; do $BIN/producer $r --name \$p -n $third 2>>$tmp/queue.err & done; wait")
        redis_floor "$port" "$n" "$s|$rf1|floor||" 1 "$s|$rf3|floor||" 3
    else
        progress "queue: no redis-server here, so no Redis Streams figures (scripts/test.sh installs it)"
    fi
    hf queue-1x1 items/s "$n" "$slow_runs" -- \
        "$s|1 x 1|ours|1 x 1|$fl" "$BIN/broker $q --producers 1 -q 2>>$tmp/queue.err & b=\$!; $BIN/consumer $q -q --expect $n 2>>$tmp/queue.err & $BIN/producer $q -n $n 2>>$tmp/queue.err; wait \$b" \
        "$s|$fl|floor||" "$floor" \
        "${redis1[@]}" \
        "$s|1 x 1|python||" "$PY $PYDIR/mp_queue.py $n 1 1"
    hf queue-3x2 items/s "$n" "$slow_runs" -- \
        "$s|3 producers x 2 consumers|ours|3 producers x 2 consumers|$fl" "$BIN/broker $q --producers 3 -q 2>>$tmp/queue.err & b=\$!; for c in c1 c2; do $BIN/consumer $q --name \$c -q 2>>$tmp/queue.err & done; for p in p1 p2 p3; do $BIN/producer $q --name \$p -n $third 2>>$tmp/queue.err & done; wait \$b" \
        "${redis3[@]}" \
        "$s|3 producers x 2 consumers|python||" "$PY $PYDIR/mp_queue.py $n 3 2"
    stop redis
}

row_counter() {
    local workers=20 decs title
    decs=$(size 10000 50)
    title="counter: $workers processes, locked decrements (process start-up included)"
    local case="$workers x $decs decrements"
    hf counter decrements/s $((workers * decs)) "$runs" -- \
        "counter|$title|$case|ours|Manager().dict() + Lock|" "$BIN/counter run --workers $workers --decrements $decs --quiet" \
        "counter|$title|$case|floor||" "$FL/floor-count --workers $workers --times $decs"
    hf counter-python decrements/s $((workers * decs)) "$slow_runs" -- \
        "counter|$title|Manager().dict() + Lock|python||" "$PY $PYDIR/counter.py $workers $decs"
    # The tutorial's demo itself: 20 processes x 1 decrement, whole run in ms (ours prints
    # its line per decrement, as the tutorial does; Python's print is removed).
    hf counter-demo ms 0 "$runs" -- \
        "counter|$title|demo: $workers x 1, whole run|ours||" "$BIN/counter run" \
        "counter|$title|demo: $workers x 1, whole run|floor||" "$FL/floor-count --workers $workers --times 1" \
        "counter|$title|demo: $workers x 1, whole run|python||" "$PY $PYDIR/counter.py $workers 1"
}

row_semaphore() {
    local workers=20 permits=5 times title
    times=$(size 1000 10)
    title="semaphore: $workers processes, $permits permits, $times entries each, no stay (entries/s)"
    hf semaphore entries/s $((workers * times)) "$runs" -- \
        "semaphore|$title|$permits permits|ours||" "$BIN/counter semaphore --workers $workers --permits $permits --stay 0s --times $times --quiet" \
        "semaphore|$title|$permits permits|floor||" "$FL/floor-count --workers $workers --times $times --permits $permits" \
        "semaphore|$title|$permits permits|python||" "$PY $PYDIR/semaphore.py $workers $permits $times"
}

row_startup() {
    local n b addr title="start-up: a whole process (ms, lower is better)"
    n=$(size 30 5)
    local s="startup|$title"
    local py="python3 -c pass"
    local args=()
    for b in producer consumer server client counter broker; do
        [ -x "$BIN/$b" ] || continue
        args+=("$s|$b --help|ours|$py|floor-pipe --help" "$BIN/$b --help")
    done
    addr=$(serve startup-server 1 "$BIN/server" tcp:127.0.0.1:0)
    args+=("$s|producer: 1 item to /dev/null|ours|$py|" "$BIN/producer stdio -n 1"
        "$s|producer: 1 item to /dev/null|floor||" "$FL/floor-pipe send stdio --bytes 32"
        "$s|client: 1 exchange|ours|$py|" "$BIN/client --message hi $addr"
        "$s|client: 1 exchange|floor||" "$FL/floor-echo ping $addr --count 1"
        "$s|counter run: 1 worker, 1 decrement|ours|$py|" "$BIN/counter run --workers 1 --quiet"
        "$s|counter run: 1 worker, 1 decrement|floor||" "$FL/floor-count --workers 1 --times 1"
        "$s|floor-pipe --help|floor||" "$FL/floor-pipe --help"
        "$s|$py|python||" "$PY -c pass")
    hf startup ms 0 "$n" -N --warmup 3 -- "${args[@]}"
    stop startup-server INT
    # Reading from a file needs a shell: sh -c, timed whole (hyperfine's subtraction of its
    # own shell's start-up goes below zero on a busy machine), for ours and the floor alike.
    "$BIN/producer" stdio -n 1 >"$tmp/one.baozi" 2>/dev/null
    hf startup-consumer ms 0 "$n" -N --warmup 3 -- \
        "$s|consumer: 1 item from a file, in sh -c|ours|$py|" "sh -c '$BIN/consumer stdio -q --expect 1 <$tmp/one.baozi'" \
        "$s|consumer: 1 item from a file, in sh -c|floor||" "sh -c '$FL/floor-pipe recv stdio --bytes $(wc -c <"$tmp/one.baozi") <$tmp/one.baozi'"
}

# shm: (issue 17) against local:, unix: and stdio in the same run, and its raw ring
# (floor-shm). Where the scheduler puts the two ends decides the figures (on one CPU, one
# core does both copies and every wake-up is a context switch), so each case runs twice:
# free (the scheduler decides; which CPUs it chose, sampled over one extra run, goes to
# machine.txt, above the table) and split (pinned with taskset to CPUs 0 and 1).

row_shm() {
    local total payload n size_name gib args=() items placed on c0 c1 places=(free)
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        places+=(split)
    else
        progress "shm: no taskset or one CPU only: no figures split over 2 CPUs"
    fi
    total=$(size $((2 << 30)) $((16 << 20)))
    gib=$(awk -v t="$total" 'BEGIN { print t / 2^30 }')
    local s="shm-bulk|shm: bulk, $((total >> 20)) MiB in all (GiB/s)"
    local shm="shm:bench-shm-$$" loc="local:bench-shm-$$"
    for payload in 1048576 65536; do
        n=$((total / payload))
        size_name="$((payload >> 10)) KiB"
        [ "$payload" = 1048576 ] && size_name="1 MiB"
        for placed in "${places[@]}"; do
            on="" c0="" c1=""
            [ "$placed" = split ] && on=", split over 2 CPUs" c0="taskset -c 0 " c1="taskset -c 1 "
            local ours="timeout 300 $c0$BIN/consumer -l $shm -q --expect $n 2>>$tmp/shm.err & $c1$BIN/producer $shm -n $n --payload $payload 2>>$tmp/shm.err; wait \$!"
            local floor="timeout 300 $c0$FL/floor-shm recv bench-$$ --bytes $total --chunk $payload 2>>$tmp/shm.err & $c1$FL/floor-shm send bench-$$ --bytes $total --chunk $payload; wait \$!"
            args+=("$s|shm:, $size_name items$on|ours||" "$ours"
                "$s|shm:, $size_name items$on|floor||" "$floor"
                "$s|local:, $size_name items$on|ours||" "timeout 300 $c0$BIN/consumer -l $loc -q --expect $n 2>>$tmp/shm.err & $c1$BIN/producer $loc -n $n --payload $payload 2>>$tmp/shm.err; wait \$!"
                "$s|stdio, $size_name items$on|ours||" "$c1$BIN/producer stdio -n $n --payload $payload | $c0$BIN/consumer stdio -q --expect $n")
            if [ "$placed" = free ]; then
                placement "shm placement, bulk, ours, $size_name items" producer,consumer "${ours//\\/}"
                placement "shm placement, bulk, floor, $size_name items" floor-shm "${floor//\\/}"
            fi
        done
    done
    hf shm-bulk GiB/s "$gib" "$runs" -- "${args[@]}"

    # The target is the per-item rate, so 10M items (about 150 ms): in a run of 1M (about
    # 20 ms), the programs' start and a connection's setup (its 8 MiB reserved, about 1.5 ms;
    # the connect retried until the listener is up), which stdio has not, are a fifth.
    items=$(size 10000000 10000)
    s="shm-items|shm: small items, $items items (items/s)"
    args=()
    for placed in "${places[@]}"; do
        on="" c0="" c1=""
        [ "$placed" = split ] && on=", split over 2 CPUs" c0="taskset -c 0 " c1="taskset -c 1 "
        local ours="timeout 300 $c0$BIN/consumer -l $shm -q --expect $items 2>>$tmp/shm.err & $c1$BIN/producer $shm -n $items 2>>$tmp/shm.err; wait \$!"
        [ "$placed" = free ] && placement "shm placement, small items" producer,consumer "${ours//\\/}"
        args+=("$s|shm:$on|ours||" "$ours"
            "$s|stdio$on|ours||" "$c1$BIN/producer stdio -n $items | $c0$BIN/consumer stdio -q --expect $items")
    done
    hf shm-items items/s "$items" "$runs" -- "${args[@]}"

    local trips i kind out lat
    trips=$(size 100000 1000)
    local title="shm: echo round trip, $trips round trips, one client (microseconds, lower is better)"
    local addrs split_addrs=()
    mapfile -t addrs < <(serve shm-echo 2 "$BIN/server" "shm:bench-shm-echo-$$" "unix:$tmp/shm-echo.sock" --prefix 'test: ')
    if [ "${#places[@]}" = 2 ]; then
        mapfile -t split_addrs < <(serve shm-echo-split 2 taskset -c 0 "$BIN/server" \
            "shm:bench-shm-echo-split-$$" "unix:$tmp/shm-echo-split.sock" --prefix 'test: ')
    fi
    declare -A p50 p99
    for ((i = 1; i <= slow_runs; i++)); do
        for k in 0 1; do
            kind=${addrs[$k]%%:*}
            progress "shm echo: run $i/$slow_runs, $kind:"
            if [ "$k" = 0 ] && [ "$i" = 1 ]; then
                placement "shm placement, echo" "server=$(cat "$tmp/shm-echo.pid"),client" \
                    "$BIN/client --count $trips ${addrs[0]} >/dev/null 2>&1"
            fi
            out=$("$BIN/client" --count "$trips" "${addrs[$k]}" 2>&1)
            lat=$(latency "$out")
            p50[$kind:]+=" ${lat% *}"
            p99[$kind:]+=" ${lat#* }"
            if [ "${#split_addrs[@]}" = 2 ]; then
                out=$(taskset -c 1 "$BIN/client" --count "$trips" "${split_addrs[$k]}" 2>&1)
                lat=$(latency "$out")
                p50[$kind:, split over 2 CPUs]+=" ${lat% *}"
                p99[$kind:, split over 2 CPUs]+=" ${lat#* }"
            fi
        done
    done
    [ "${#split_addrs[@]}" = 2 ] && stop shm-echo-split INT
    for kind in "shm:" "unix:" "shm:, split over 2 CPUs" "unix:, split over 2 CPUs"; do
        [ -n "${p50[$kind]:-}" ] || continue
        # shellcheck disable=SC2086 # the values are words
        add "shm-echo|$title|$kind|ours||" "us p50" ${p50[$kind]}
        # shellcheck disable=SC2086
        add "shm-echo|$title|$kind|ours||" "us p99" ${p99[$kind]}
    done

    # Idle: a client connected over shm: that sends nothing (its input is a sleep); the CPU
    # time (utime + stime, /proc/PID/stat) the server and the client take over 10 s.
    local idle client spent=()
    idle=$(size 10 1)
    sleep $((idle + 3)) | "$BIN/client" "${addrs[0]}" >/dev/null 2>&1 &
    client=$!
    for ((i = 0; i < 600; i++)); do
        grep -q memfd:baozi-shm "/proc/$(cat "$tmp/shm-echo.pid")/maps" && break
        sleep 0.01 # poll for the server's mapping of the client's rings
    done
    ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
    local t0s t0c
    t0s=$(ticks "$(cat "$tmp/shm-echo.pid")")
    t0c=$(ticks "$client")
    progress "shm idle: ${idle}s of a client that sends nothing"
    sleep "$idle" # the measured stretch itself, not a synchronisation
    spent=($(($(ticks "$(cat "$tmp/shm-echo.pid")") - t0s)) $(($(ticks "$client") - t0c)))
    kill "$client" 2>/dev/null || true
    stop shm-echo INT
    local hz
    hz=$(getconf CLK_TCK)
    title="shm: an idle connection's CPU over ${idle} s (% of a core, lower is better)"
    add "shm-idle|$title|server, idle client connected|ours||" "% CPU" \
        "$(awk -v t="${spent[0]}" -v hz="$hz" -v s="$idle" 'BEGIN { print 100 * t / hz / s }')"
    add "shm-idle|$title|client, connected, sending nothing|ours||" "% CPU" \
        "$(awk -v t="${spent[1]}" -v hz="$hz" -v s="$idle" 'BEGIN { print 100 * t / hz / s }')"
}

for row in "${only[@]}"; do
    "row_$row"
    # Every row that ran has figures.
    figures="^${row//_/-},"
    [ "$row" = shm ] && figures="^shm-" # shm-bulk, shm-items, shm-echo, shm-idle
    if ! grep -q "$figures" "$CSV"; then
        echo "bench: row $row recorded no figure" >&2
        exit 1
    fi
done

progress "done; results in $OUT/"
"$PY" scripts/bench/results.py report "$CSV" "$OUT/machine.txt" "$OUT/table.md"
"$PY" scripts/bench/chart.py "$CSV" "$OUT/machine.txt" "$OUT/bench.svg"
echo
echo "rows: ${only[*]}; figures: $(($(wc -l <"$CSV") - 1)) in $CSV; chart: $OUT/bench.svg"
