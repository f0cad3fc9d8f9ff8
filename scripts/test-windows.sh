#!/usr/bin/env bash
# Windows, tested on Linux: builds the workspace for x86_64-pc-windows-gnu and runs the
# whole test suite under wine, so the integration tests spawn the real .exe files and talk
# over Windows named pipes (local:NAME), TCP and anonymous pipes. Then runs each scenario's
# Windows launch sequence (scripts/windows/*.cmd) in wine's cmd, and checks from the Linux
# side that Ctrl-C ends each long-running Windows binary with 130. Closes with one line,
# "windows tests: N passed, N failed", and exits non-zero on any failure.
#
# On a fresh Debian machine it installs what it needs (as root): Debian's Rust (its std
# source is what -Zbuild-std compiles for Windows; rustup has no Windows std offline), the
# mingw linker and wine. Plain `cargo` stays native: everything here is set through the
# environment of this script only, and builds go to target/windows.
# Extra arguments go to `cargo test`. Recipe: ../shared/notes/windows-under-wine.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
root="$(pwd)"
TARGET=x86_64-pc-windows-gnu

step "windows: packages"
packages=(rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine wine64 redis-server)
missing=()
for package in "${packages[@]}"; do
    state="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
    [ "$state" = "install ok installed" ] || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "all installed: ${packages[*]}"
elif [ "$(id -u)" = 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "test-windows.sh: please install these Debian packages first: ${missing[*]}" >&2
    exit 1
fi

# Debian's toolchain, for this script only.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/target/windows"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=/usr/lib/wine/wine64
CARGO=/usr/bin/cargo
"$RUSTC" --version

step "windows: the stand-in bcryptprimitives.dll (wine 8.0 lacks ProcessPrng)"
dll_dir="$CARGO_TARGET_DIR/wine-dll"
mkdir -p "$dll_dir"
x86_64-w64-mingw32-gcc -shared -O2 -o "$dll_dir/bcryptprimitives.dll" \
    scripts/windows/bcryptprimitives.c -lbcrypt

# A wine prefix of our own for this run, so that pipe names cannot clash with another run.
export WINEDEBUG=-all
export WINEPREFIX="${BAOZI_WINEPREFIX:-$(mktemp -d /tmp/baozi-wine.XXXXXX)}"
export WINEPATH="Z:${dll_dir//\//\\}"
cleanup() {
    wineserver -k 2>/dev/null || true
    [ -n "${BAOZI_WINEPREFIX:-}" ] || rm -rf "$WINEPREFIX"
}
trap cleanup EXIT

step "windows: the wine prefix, booted once before any test"
# One wineserver for the whole run (-p: it stays between the test binaries rather than
# exiting 3 s after each), and the fresh prefix created and booted (wineboot -i: wine.inf
# installed, services started) before any test starts processes, instead of by the first
# process of the first test binary while its tests already start many processes at once.
# A full run on a loaded machine once failed to start a client.exe with "Internal error
# (os error 1359)": wine's CreateProcess saying the child ended before its start-up was
# done. Not reproduced since (7 runs with both cores loaded); this takes the boot out of
# the tests, and testkit's spawn retries exactly that error.
wineserver -p
/usr/lib/wine/wine64 wineboot -i

step "windows: build and test for $TARGET under wine"
log="$(mktemp)"
status=0
# All binaries and tests first: the integration tests run the binaries (see
# scripts/test.sh). Code that only Windows compiles gets no clippy here, so at least its
# compiler warnings fail the run, as clippy's -D warnings does on Linux.
"$CARGO" build --workspace --all-targets --target "$TARGET" -Zbuild-std=std,panic_unwind \
    2>&1 | tee "$log"
if grep -qE '^warning: `[a-z_-]+` \(.*\) generated [0-9]+ warnings?' "$log"; then
    echo "test result: FAILED. 0 passed; 1 failed (the Windows build has warnings, above)" | tee -a "$log"
    status=1
fi
"$CARGO" test --workspace --no-fail-fast --target "$TARGET" -Zbuild-std=std,panic_unwind "$@" 2>&1 |
    tee -a "$log" || status=$?

step "windows: the scenarios' Windows launch sequences (scripts/windows/*.cmd) under wine's cmd"
exe="$CARGO_TARGET_DIR/$TARGET/debug"
for script in scripts/windows/*.cmd; do
    code=0
    /usr/lib/wine/wine64 cmd /c "Z:${root//\//\\}\\${script//\//\\}" "Z:${exe//\//\\}" || code=$?
    if [ "$code" -eq 0 ]; then
        echo "test result: ok. 1 passed; 0 failed ($script)" | tee -a "$log"
    else
        echo "test result: FAILED. 0 passed; 1 failed ($script exited $code)" | tee -a "$log"
        status=1
    fi
done

step "windows: Ctrl-C reaches each long-running Windows binary (sent from Linux as SIGINT)"
# ctrl_c_check NEEDLE EXE ARGS...: starts EXE under wine, waits for a stderr line with
# NEEDLE (its ready line), sends SIGINT and expects exit code 130 with "interrupted".
ctrl_c_check() {
    local needle=$1 exe=$2 errlog pid code i try
    shift 2
    errlog="$(mktemp)"
    # Up to two more tries when wine itself SIGKILLed a program that had already said
    # "interrupted" (137: seen on a loaded machine, as wine tears the exiting process
    # down; twice in a row once, on 2026-12-06); any other outcome, or the same three
    # times, fails.
    for try in 1 2 3; do
        /usr/lib/wine/wine64 "$CARGO_TARGET_DIR/$TARGET/debug/$exe" "$@" 2>"$errlog" >/dev/null &
        pid=$!
        for ((i = 0; i < 600; i++)); do
            grep -q "$needle" "$errlog" && break
            sleep 0.05 # poll for the ready line
        done
        code=0
        if grep -q "$needle" "$errlog"; then
            kill -INT "$pid"
            wait "$pid" || code=$?
        else
            kill "$pid" 2>/dev/null || true
            code=never-ready
        fi
        if [ "$try" != 3 ] && [ "$code" = 137 ] && grep -q interrupted "$errlog"; then
            echo "(wine killed $exe as it exited after Ctrl-C, exit 137; trying once more)"
            continue
        fi
        break
    done
    if [ "$code" = 130 ] && grep -q interrupted "$errlog"; then
        echo "test result: ok. 1 passed; 0 failed ($exe $* exited 130 on Ctrl-C)" | tee -a "$log"
    else
        echo "test result: FAILED. 0 passed; 1 failed ($exe $* exited $code on Ctrl-C)" | tee -a "$log"
        cat "$errlog"
        status=1
    fi
    rm -f "$errlog"
}
ctrl_c_check "ready: " consumer.exe -l "local:baozi-winctrlc-$$"
ctrl_c_check "waiting for" producer.exe "local:baozi-winctrlc-none-$$" --wait 60s
ctrl_c_check "ready: " broker.exe "local:baozi-winctrlc-queue-$$"
ctrl_c_check "ready: " server.exe tcp:127.0.0.1:0 "local:baozi-winctrlc-echo-$$" udp:127.0.0.1:0
ctrl_c_check "workers started" counter.exe run --workers 3 --decrements 100000 --pause 10ms --quiet
ctrl_c_check "workers started" counter.exe semaphore --workers 3 --permits 1 --stay 60s

step "windows: producer.exe and consumer.exe on a Linux redis-server (redis://, over loopback TCP)"
# The tests under wine cannot start a Linux redis-server; this step does, on a free
# loopback port with no persistence, and runs two Windows producers and two Windows
# consumers against it, checking every count.
redis_check() {
    local port dir rpid i addr code=0 out
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    dir="$(mktemp -d)"
    redis-server --save '' --appendonly no --port "$port" --bind 127.0.0.1 --dir "$dir" >"$dir/log" 2>&1 &
    rpid=$!
    for ((i = 0; i < 600; i++)); do
        [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break
        sleep 0.05 # retry PING until the server answers
    done
    addr="redis://127.0.0.1:$port/wine-$$"
    out="$CARGO_TARGET_DIR/$TARGET/debug"
    /usr/lib/wine/wine64 "$out/consumer.exe" "$addr" --producers 2 --name c1 -q 2>"$dir/c1" &
    local c1=$!
    /usr/lib/wine/wine64 "$out/consumer.exe" "$addr" --producers 2 --name c2 -q 2>"$dir/c2" &
    local c2=$!
    /usr/lib/wine/wine64 "$out/producer.exe" "$addr" -n 500 --name p1 2>"$dir/p1" &
    local p1=$!
    /usr/lib/wine/wine64 "$out/producer.exe" "$addr" -n 500 --name p2 2>"$dir/p2" || code=1
    for pid in "$p1" "$c1" "$c2"; do wait "$pid" || code=1; done
    # How the 1000 are shared depends on which consumer wine starts first (one may find the
    # run over and eat none); what they ate must add up to 1000.
    local want="received 1000 from 2 producers (p1 500, p2 500); eaten 1000 by" ate
    ate=$(($(sed -n 's/^c1: \([0-9]*\) items\{0,1\} in .*/\1/p' "$dir/c1") + $(sed -n 's/^c2: \([0-9]*\) items\{0,1\} in .*/\1/p' "$dir/c2")))
    if [ "$code" = 0 ] && grep -qF "$want" "$dir/c1" && grep -qF "$want" "$dir/c2" &&
        [ "$ate" = 1000 ] && grep -q "sent 500 baozi to the Redis stream" "$dir/p1"; then
        echo "test result: ok. 1 passed; 0 failed (2 producer.exe x 2 consumer.exe on redis://)" | tee -a "$log"
    else
        echo "test result: FAILED. 0 passed; 1 failed (producer.exe and consumer.exe on redis://)" | tee -a "$log"
        tail -n 5 "$dir"/c1 "$dir"/c2 "$dir"/p1 "$dir"/p2 "$dir"/log
        status=1
    fi
    kill "$rpid" 2>/dev/null || true
    wait "$rpid" 2>/dev/null || true
    rm -rf "$dir"
}
redis_check

printf 'windows '
summarize_tests "$log"
rm -f "$log"
exit "$status"
