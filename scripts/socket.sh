#!/usr/bin/env bash
# The socket (section 3 of the tutorial): an echo server in the background on TCP, a local
# socket and UDP at once, then a few clients (one message, lines from a pipe, a datagram, a
# latency run, nc and socat when installed, the tutorial's own client.py), every reply
# checked; our client against the tutorial's own server.py; then Ctrl-C, and the server's
# exit code (130) and totals checked. The tutorial's programs (python/tutorial/) run when
# python3 is installed. Twin: socket.ps1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
build

log="$(mktemp)"
server=
theirs=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    if [ -n "$theirs" ]; then kill "$theirs" 2>/dev/null || true; fi
    rm -f "$log"
}
trap cleanup EXIT

# Checks that what a command printed ($1) is exactly $2, and shows it.
expect() {
    if [ "$1" != "$2" ]; then
        printf 'socket: expected %q, got %q\n' "$2" "$1" >&2
        exit 1
    fi
    printf '%s\n' "$1"
}

step "1. the server in the background, on tcp:127.0.0.1:0, local:NAME and udp:127.0.0.1:0 at once"
"$BIN/server" tcp:127.0.0.1:0 "local:baozi-socket-$$" udp:127.0.0.1:0 2>"$log" &
server=$!
lines=$(wait_ready "$log" 3)
mapfile -t ready <<<"$lines"
tcp=${ready[0]} local=${ready[1]} udp=${ready[2]}
echo "listening on $tcp, $local and $udp"

step "2. one message, as in the tutorial: client --message"
out=$("$BIN/client" --message 'hello baozi' "$tcp")
expect "$out" "test: hello baozi"

step "3. lines from a pipe, over the local socket"
out=$(printf 'one\ntwo\nthree\n' | "$BIN/client" "$local")
expect "$out" $'test: one\ntest: two\ntest: three'

step "4. a datagram over UDP"
out=$("$BIN/client" --message datagram "$udp")
expect "$out" "test: datagram"

step "5. 1000 round trips over TCP: client --count"
out=$("$BIN/client" --count 1000 "$tcp")
echo "$out"
case $out in
*"1000 round trips"*median*p99*) ;;
*) echo "socket: no latency summary" >&2; exit 1 ;;
esac

step "6. other programs as clients: OpenBSD nc and socat"
hostport=${tcp#tcp:}
if nc -h 2>&1 | grep -q OpenBSD; then
    out=$(printf 'from nc\n' | nc -N "${hostport%:*}" "${hostport##*:}")
    expect "$out" "test: from nc"
else
    echo "(OpenBSD nc is not installed: skipped)"
fi
if command -v socat >/dev/null; then
    out=$(printf 'from socat\n' | socat -t 10 - "TCP:$hostport")
    expect "$out" "test: from socat"
else
    echo "(socat is not installed: skipped)"
fi

step "7. the tutorial's own client.py (python/tutorial/s3_client.py): one send without a newline"
# It sends "hello" with no newline and waits in one recv(1024); ours answers what came
# before the pause (server --pause, 200 ms), as the tutorial's server answers one recv.
if have_python; then
    out=$(echo hello | python3 python/tutorial/s3_client.py "${hostport%:*}" "${hostport##*:}")
    expect "$out" "test: hello"
fi

step "8. our client against the tutorial's own server.py (python/tutorial/s3_server.py)"
if have_python; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    python3 python/tutorial/s3_server.py "$port" &
    theirs=$!
    # It prints no ready line: --wait retries the connection until it listens.
    out=$("$BIN/client" --wait 30s --message hello "tcp:127.0.0.1:$port")
    expect "$out" "test: hello"
    kill "$theirs"
    wait "$theirs" 2>/dev/null || true # (killed: its status is the signal's)
    theirs=
fi

step "9. Ctrl-C: the server stops accepting, prints its totals and exits with 130"
kill -INT "$server"
status=0
wait "$server" || status=$?
server=
cat "$log" >&2
[ "$status" -eq 130 ] || { echo "socket: the server exited with $status, not 130" >&2; exit 1; }
grep -q '^server: totals: ' "$log" || { echo "socket: no totals from the server" >&2; exit 1; }

step "socket: every reply was right"
