#!/usr/bin/env bash
# Side-by-side figures, in one run on this machine: our release binaries against the
# tutorial's Python programs (multiprocessing) and against the raw OS floor (no framing, no
# encoding). Prints a table with ratios; asserts nothing (speed belongs here, not in tests).
# Absolute figures drift between runs on shared machines; compare the ratios.
# Sizes can be scaled down for a quick look: SCALE=0.1 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BAOZI_PROFILE=release
. scripts/lib.sh
SCALE="${SCALE:-1}"
scaled() { python3 -c "print(max(1, int($1 * $SCALE)))"; }
build
errors="$(mktemp)"
trap 'rm -f "$errors"' EXIT

# Seconds taken by a shell command line, with its output discarded.
seconds() {
    local t0 t1
    t0=$(date +%s.%N)
    if ! bash -c "$1" >/dev/null 2>"$errors"; then
        echo "bench: failed: $1" >&2
        cat "$errors" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    python3 -c "print($t1 - $t0)"
}
rate() { python3 -c "print(f'{$1 / $2:,.0f}')"; }
row() { printf '%-58s %16s %10s\n' "$@"; }

items=$(scaled 200000)
# Ours run 10 times as many items, so that process start-up does not dominate.
many=$((items * 10))
chunks=$(scaled 2048)
step "pipe: $items short items, parent to child (items/s, higher is better)"
py_items=$(seconds "python3 - <<'PY'
from multiprocessing import Process, Pipe
def consumer(r, w):
    w.close()  # the child's copy of the write end, or EOF never comes
    while True:
        try:
            r.recv()
        except EOFError:
            break
if __name__ == '__main__':
    r, w = Pipe(duplex=False)
    c = Process(target=consumer, args=(r, w)); c.start(); r.close()
    for i in range($items):
        w.send('baozi %d' % i)
    w.close(); c.join()
PY")
ours_items=$(seconds "$BIN/producer stdio -n $many | $BIN/consumer stdio -q --expect $many")
ours_lines=$(seconds "$BIN/producer stdio -n $many | $BIN/consumer stdio --expect $many")
row "workload" "items/s" "vs Python"
row "Python multiprocessing.Pipe" "$(rate "$items" "$py_items")" "1.0x"
py_rate=$(python3 -c "print($items / $py_items)")
ours_rate=$(python3 -c "print($many / $ours_items)")
lines_rate=$(python3 -c "print($many / $ours_lines)")
row "producer stdio | consumer stdio -q" "$(rate "$many" "$ours_items")" "$(python3 -c "print(f'{$ours_rate / $py_rate:.1f}x')")"
row "producer stdio | consumer stdio (a line per item)" "$(rate "$many" "$ours_lines")" "$(python3 -c "print(f'{$lines_rate / $py_rate:.1f}x')")"

step "pipe: $chunks MiB in 1 MiB (or 64 KiB) items (GiB/s, higher is better)"
gib=$(python3 -c "print($chunks / 1024)")
py_bulk=$(seconds "python3 - <<'PY'
from multiprocessing import Process, Pipe
def consumer(r, w):
    w.close()
    n = 0
    while True:
        try:
            n += len(r.recv_bytes())
        except EOFError:
            break
if __name__ == '__main__':
    r, w = Pipe(duplex=False)
    c = Process(target=consumer, args=(r, w)); c.start(); r.close()
    chunk = b'x' * (1 << 20)
    for i in range($chunks):
        w.send_bytes(chunk)
    w.close(); c.join()
PY")
floor_bulk=$(seconds "dd if=/dev/zero bs=64K count=$((chunks * 16)) status=none | dd of=/dev/null bs=64K status=none")
ours_bulk=$(seconds "$BIN/producer stdio -n $chunks --payload 1MiB | $BIN/consumer stdio -q --expect $chunks")
ours_64k=$(seconds "$BIN/producer stdio -n $((chunks * 16)) --payload 64KiB | $BIN/consumer stdio -q --expect $((chunks * 16))")
ours_local=$(seconds "$BIN/consumer -q -l local:baozi-bench-$$ --expect $chunks & $BIN/producer local:baozi-bench-$$ -n $chunks --payload 1MiB; wait")
row "workload" "GiB/s" "vs floor"
row "floor: dd bs=64K | dd bs=64K (raw pipe, 64 KiB writes)" "$(python3 -c "print(f'{$gib / $floor_bulk:.2f}')")" "1.0x"
row "Python Pipe.send_bytes" "$(python3 -c "print(f'{$gib / $py_bulk:.2f}')")" "$(python3 -c "print(f'{$floor_bulk / $py_bulk:.2f}x')")"
row "producer stdio --payload 1MiB | consumer stdio" "$(python3 -c "print(f'{$gib / $ours_bulk:.2f}')")" "$(python3 -c "print(f'{$floor_bulk / $ours_bulk:.2f}x')")"
row "producer stdio --payload 64KiB | consumer stdio" "$(python3 -c "print(f'{$gib / $ours_64k:.2f}')")" "$(python3 -c "print(f'{$floor_bulk / $ours_64k:.2f}x')")"
row "producer local: --payload 1MiB -> consumer -l local:" "$(python3 -c "print(f'{$gib / $ours_local:.2f}')")" "$(python3 -c "print(f'{$floor_bulk / $ours_local:.2f}x')")"

trips=$(scaled 20000)
step "echo: $trips round trips, one client (microseconds per round trip, lower is better)"
# The tutorial's server.py and client.py, fixed to answer every line, as two processes.
py_dir="$(mktemp -d)"
cat >"$py_dir/server.py" <<'PY'
import socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', 0)); srv.listen()
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept(); conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = conn.makefile('rb')
while True:
    line = f.readline()
    if not line:
        break
    conn.sendall(b'test: ' + line)
PY
cat >"$py_dir/client.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
c = socket.create_connection(('127.0.0.1', port))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
f = c.makefile('rb')
t0 = time.perf_counter()
for i in range(n):
    c.sendall(b'baozi\n'); f.readline()
print(f'{(time.perf_counter() - t0) * 1e6 / n:.1f}')
PY
coproc PYSERVER { python3 "$py_dir/server.py"; }
read -r py_port <&"${PYSERVER[0]}"
py_us=$(python3 "$py_dir/client.py" "$py_port" "$trips")
wait "$PYSERVER_PID" || true
rm -rf "$py_dir"

log="$(mktemp)"
"$BIN/server" tcp:127.0.0.1:0 "unix:${TMPDIR:-/tmp}/baozi-bench-$$.sock" 2>"$log" &
server=$!
mapfile -t addrs < <(wait_ready "$log" 2)
tcp_line=$("$BIN/client" --count "$trips" "${addrs[0]}" 2>&1)
unix_line=$("$BIN/client" --count "$trips" "${addrs[1]}" 2>&1)
kill -INT "$server"
wait "$server" || true
rm -f "$log"
# Mean microseconds per round trip, from "N round trips over ADDR in Ss: ...".
mean() { python3 -c "import re,sys; print(f'{float(re.search(r\" in ([0-9.]+)s:\", sys.argv[1]).group(1)) * 1e6 / $trips:.1f}')" "$1"; }
row "workload" "us/round trip" "vs Python"
row "Python: the tutorial's server.py and client.py, TCP (mean)" "$py_us" "1.0x"
for pair in "TCP:$tcp_line" "unix socket:$unix_line"; do
    name="${pair%%:*}"
    us="$(mean "${pair#*:}")"
    row "client --count -> server, $name (mean)" "$us" "$(python3 -c "print(f'{$py_us / $us:.1f}x')")"
done
echo "(the raw floor measured on these machines: TCP 58-60 us, Unix socket 53-57 us per round trip)"

workers=20
decs=$(scaled 1000)
step "shared memory: $workers processes x $decs decrements under a lock (decrements/s, higher is better)"
total=$((workers * decs))
py_count=$(seconds "python3 - <<'PY'
from multiprocessing import Manager, Process, Lock
def work(d, lock):
    for _ in range($decs):
        with lock:
            d['count'] -= 1
if __name__ == '__main__':
    lock = Lock()
    with Manager() as m:
        d = m.dict({'count': $total})
        ps = [Process(target=work, args=(d, lock)) for _ in range($workers)]
        for p in ps: p.start()
        for p in ps: p.join()
        assert d['count'] == 0, d['count']
PY")
ours_count=$(seconds "$BIN/counter run --workers $workers --decrements $decs --quiet")
row "workload" "decrements/s" "vs Python"
row "Python Manager().dict() + Lock (the tutorial's, no print)" "$(rate "$total" "$py_count")" "1.0x"
row "counter run --quiet (file lock, shared memory)" "$(rate "$total" "$ours_count")" "$(python3 -c "print(f'{$py_count / $ours_count:.1f}x')")"
echo "(both figures include starting the $workers processes)"
