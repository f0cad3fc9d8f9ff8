#!/usr/bin/env bash
# A short fuzzing run of every target in fuzz/ (FUZZ_SECONDS each, 15 by default), for CI.
# Needs cargo-fuzz and a toolchain that takes -Z flags. What it cannot have, it says in one
# line and exits 0 (the fuzzing is skipped, not failed): no nightly and no stable to use with
# RUSTC_BOOTSTRAP, or cargo-fuzz that cannot be installed. Once it runs, a crash (a panic, an
# allocation over 8 MiB, a hang) fails it, with the input left in fuzz/artifacts/TARGET/.
#
# cargo-fuzz is installed once, from crates.io, into ~/.cargo/bin (about 1.5 minutes on a
# 2-core machine) and reused by later runs on the same machine.
# Usage: fuzz/run.sh [TARGET...]     (all targets by default)
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-15}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(frames greeting address lines)
export PATH="$HOME/.cargo/bin:$PATH"

skip() {
    echo "fuzz: skipped: $*"
    exit 0
}

# The toolchain: nightly if rustup has it; otherwise the default one, which accepts the
# -Z flags cargo-fuzz passes when RUSTC_BOOTSTRAP=1 (the sanitizer runtime ships with it).
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
else
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
fi
"${cargo[@]}" --version >/dev/null 2>&1 || skip "no usable cargo toolchain"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz into ~/.cargo/bin (once per machine)"
    cargo install cargo-fuzz --locked --quiet >/dev/null 2>&1 ||
        skip "cargo-fuzz could not be installed from crates.io"
fi

echo "fuzz: $("${cargo[@]}" --version), $(cargo fuzz --version)"
if ! "${cargo[@]}" fuzz build 2>&1 | tail -n 3; then
    echo "fuzz: the targets do not build" >&2
    exit 1
fi

crashed=()
for t in "${targets[@]}"; do
    # -malloc_limit_mb: no single allocation over 8 MiB, so a hostile length prefix (up to
    # the 16 MiB frame limit) that allocates before the bytes arrive is a crash.
    # -timeout: a single input that takes 10 s is a hang.
    if "${cargo[@]}" fuzz run "$t" -- -max_total_time="$seconds" -malloc_limit_mb=8 \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 >"target/$t.log" 2>&1; then
        echo "fuzz: $t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "target/$t.log"), no crash"
    else
        crashed+=("$t")
        echo "fuzz: $t: CRASHED; the log follows" >&2
        grep -v '^#' "target/$t.log" | tail -n 40 >&2
        ls artifacts/"$t"/ >&2 2>/dev/null || true
    fi
done
echo "fuzz targets: $((${#targets[@]} - ${#crashed[@]})) clean, ${#crashed[@]} crashed ${crashed[*]}"
[ "${#crashed[@]}" -eq 0 ]
