#!/usr/bin/env bash
# The test command for a fresh machine: installs the tools the tests talk to (Debian
# packages, when missing), then runs every test of the workspace (and the loom model of the
# shm: ring, scripts/loom.sh) and closes with one line,
# "tests: N passed, N failed". Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# command the tests run -> the Debian package that has it
declare -A tools=([nc]=netcat-openbsd [socat]=socat [python3]=python3 [redis-server]=redis-server [man]=man-db)
missing=()
for tool in "${!tools[@]}"; do
    command -v "$tool" >/dev/null || missing+=("${tools[$tool]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "test.sh: please install these Debian packages first: ${missing[*]}" >&2
        exit 1
    fi
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
# The integration tests run every binary of the workspace, and `cargo test` alone builds
# only those of packages that have integration tests: build them all first.
cargo build --workspace --bins --quiet
cargo test --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?
# The shm: ring's loom model, built apart with --cfg loom (about 80 s the first time).
scripts/loom.sh 2>&1 | tee -a "$log" || status=$?
summarize_tests "$log"
exit "$status"
