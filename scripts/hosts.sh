#!/usr/bin/env bash
# Between hosts: three "hosts" made of Linux network namespaces, each with an address of its
# own (10.200.0.1, .2, .3, inside the namespaces only), joined by veth pairs to a bridge in
# a fourth namespace, the "switch". Runs across them: the pipe over TCP, the echo server with
# clients on other hosts, the broker with producers and consumers on two other hosts, and
# Redis likewise; then takes a host's link down in the middle of a queue run (broker, then
# Redis) and brings it back. Every count is checked. Traffic never leaves the namespaces;
# they are removed at the end, on failure and on Ctrl-C. Needs root and iproute2 (installs
# iproute2 and redis-server when missing). Closes with "hosts tests: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if [ "$(id -u)" != 0 ]; then
    echo "hosts.sh: needs root (ip netns); run it as root" >&2
    exit 1
fi
declare -A tools=([ip]=iproute2 [redis-server]=redis-server [redis-cli]=redis-tools)
missing=()
for tool in "${!tools[@]}"; do
    command -v "$tool" >/dev/null || missing+=("${tools[$tool]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

step "hosts: build"
build
root="$(pwd)"
BIN="$root/$BIN"

# Names unique to this run: the namespaces of hosts a, b, c and of the switch.
run_id="bz$$"
A="$run_id-a" B="$run_id-b" C="$run_id-c" SW="$run_id-sw"
declare -A ip_of=([$A]=10.200.0.1 [$B]=10.200.0.2 [$C]=10.200.0.3)
tmp="$(mktemp -d)"
pids=()
passed=0 failed=0

cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in "$A" "$B" "$C" "$SW"; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# on HOST CMD...: runs CMD inside HOST's namespace.
on() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# bg OUT HOST CMD...: starts CMD on HOST in the background, stderr to OUT.err, stdout to
# OUT.out; its pid goes to $last and to the list cleaned up at the end.
bg() {
    local out=$1 ns=$2
    shift 2
    ip netns exec "$ns" "$@" >"$tmp/$out.out" 2>"$tmp/$out.err" &
    last=$!
    pids+=("$last")
}

# check NAME STATUS: counts a scenario passed (status 0) or failed.
check() {
    if [ "$2" = 0 ]; then
        echo "ok: $1"
        passed=$((passed + 1))
    else
        echo "FAILED: $1"
        failed=$((failed + 1))
        tail -n 5 "$tmp"/*.err 2>/dev/null || true
    fi
    rm -f "$tmp"/*.out "$tmp"/*.err
}

# has FILE TEXT: FILE contains TEXT.
has() { grep -qF -- "$2" "$tmp/$1"; }

step "hosts: namespaces $A $B $C joined by the switch $SW (10.200.0.0/24, inside them only)"
ip netns add "$SW"
on "$SW" ip link add br0 type bridge
on "$SW" ip link set br0 up
for ns in "$A" "$B" "$C"; do
    port="p${ns##*-}"
    ip netns add "$ns"
    ip link add eth0 netns "$ns" type veth peer name "$port" netns "$SW"
    on "$SW" ip link set "$port" master br0 up
    on "$ns" ip link set lo up
    on "$ns" ip addr add "${ip_of[$ns]}/24" dev eth0
    on "$ns" ip link set eth0 up
done
echo "a: ${ip_of[$A]}, b: ${ip_of[$B]}, c: ${ip_of[$C]}"

step "hosts: the pipe over TCP, a producer on a, a consumer on b listening on 0.0.0.0"
st=0
bg consumer "$B" "$BIN/consumer" -l tcp:0.0.0.0:9000 -q --expect 1000
consumer=$last
wait_ready "$tmp/consumer.err" >/dev/null || st=1
on "$A" "$BIN/producer" "tcp:${ip_of[$B]}:9000" -n 1000 2>"$tmp/producer.err" || st=1
wait "$consumer" || st=1
has producer.err "sent 1000 baozi to the consumer at tcp:${ip_of[$B]}:9000" || st=1
check "pipe a -> b over TCP, 1000 items" "$st"

step "hosts: the echo server on a, clients on b and c"
st=0
bg server "$A" "$BIN/server" tcp:0.0.0.0:8888
server=$last
wait_ready "$tmp/server.err" >/dev/null || st=1
for ns in "$B" "$C"; do
    reply="$(on "$ns" "$BIN/client" "tcp:${ip_of[$A]}:8888" --message "hello from $ns")" || st=1
    [ "$reply" = "test: hello from $ns" ] || { echo "reply: $reply"; st=1; }
    on "$ns" "$BIN/client" "tcp:${ip_of[$A]}:8888" --count 200 2>"$tmp/count.err" >/dev/null || st=1
done
kill -INT "$server"
code=0
wait "$server" || code=$?
[ "$code" = 130 ] || st=1
check "echo server on a, clients on b and c" "$st"

# queue_run KIND FAULT: a queue (KIND broker or redis) on a, producers p1 on b and p2 on c,
# consumers c1 on b and c2 on c, 2 x N items. With FAULT=link, a's link goes down for 2 s
# once c1 has eaten 50 items, then comes back.
queue_run() {
    local kind=$1 fault=$2 n=1000 pace=() st=0 home addr pid p1 p2 c1 c2 code
    if [ "$fault" = link ]; then
        n=300
        pace=(--delay 5ms)
    fi
    if [ "$kind" = broker ]; then
        bg home "$A" "$BIN/broker" tcp:0.0.0.0:7000 --producers 2
        home=$last
        wait_ready "$tmp/home.err" >/dev/null || st=1
        addr="tcp:${ip_of[$A]}:7000"
    else
        mkdir -p "$tmp/redis"
        bg home "$A" redis-server --bind 0.0.0.0 --protected-mode no --port 6379 \
            --save '' --appendonly no --dir "$tmp/redis"
        home=$last
        local i
        for ((i = 0; i < 600; i++)); do
            [ "$(on "$A" redis-cli -p 6379 ping 2>/dev/null)" = PONG ] && break
            sleep 0.05 # retry PING until the server answers
        done
        addr="redis://${ip_of[$A]}:6379/hosts-$run_id-$fault"
    fi
    local extra=()
    [ "$kind" = redis ] && extra=(--producers 2 --lease 5s)
    bg c1 "$B" "$BIN/consumer" "$addr" --name c1 "${extra[@]}"
    c1=$last
    bg c2 "$C" "$BIN/consumer" "$addr" --name c2 "${extra[@]}"
    c2=$last
    bg p1 "$B" "$BIN/producer" "$addr" --name p1 -n "$n" "${pace[@]}"
    p1=$last
    bg p2 "$C" "$BIN/producer" "$addr" --name p2 -n "$n" "${pace[@]}"
    p2=$last
    if [ "$fault" = link ]; then
        local i
        for ((i = 0; i < 1200; i++)); do
            [ "$(grep -c 'ate baozi' "$tmp/c1.out" 2>/dev/null || true)" -ge 50 ] && break
            sleep 0.05 # poll for c1's 50th item
        done
        on "$A" ip link set eth0 down
        echo "a's link down at $(date +%T.%N | cut -c1-12)"
        sleep 2 # the outage itself
        on "$A" ip link set eth0 up
        echo "a's link up at $(date +%T.%N | cut -c1-12)"
    fi
    for pid in "$p1" "$p2" "$c1" "$c2"; do wait "$pid" || st=1; done
    local total=$((2 * n))
    local want="received $total from 2 producers (" eaten="; eaten $total by 2 consumers ("
    if [ "$kind" = broker ]; then
        wait "$home" || st=1
        has home.err "$want" && has home.err "$eaten" || st=1
        has home.err "redelivered 0; dead 0" || st=1
    else
        has c1.err "$want" && has c1.err "$eaten" || st=1
        has c2.err "$want" && has c2.err "$eaten" || st=1
        has c1.err "redelivered 0; dead 0" || st=1
        kill "$home"
        wait "$home" 2>/dev/null || true
    fi
    # Every item eaten once, none twice.
    local distinct
    distinct="$(cat "$tmp/c1.out" "$tmp/c2.out" | awk '/ate baozi/ { print $6, $4 }' | sort -u | wc -l)"
    [ "$distinct" = "$total" ] || { echo "distinct items eaten: $distinct of $total"; st=1; }
    [ "$(cat "$tmp/c1.out" "$tmp/c2.out" | grep -c 'ate baozi')" = "$total" ] || st=1
    check "$kind on a, producers and consumers on b and c${fault:+, link down 2 s}" "$st"
}

step "hosts: the broker on a, producers and consumers on b and c"
queue_run broker ""
step "hosts: Redis on a, producers and consumers on b and c"
queue_run redis ""
step "hosts: a's link down for 2 s in the middle of a broker run"
queue_run broker link
step "hosts: a's link down for 2 s in the middle of a Redis run"
queue_run redis link

printf '\nhosts tests: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
