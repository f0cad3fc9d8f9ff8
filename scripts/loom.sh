#!/usr/bin/env bash
# The shm: ring's model check (ipc/tests/loom_ring.rs): every interleaving of a producer and
# a consumer over a tiny ring, up to LOOM_MAX_PREEMPTIONS preemptions (3 by default: about
# 2 s of checking; the loom docs say 2 or 3 catch most bugs). Built apart (target/loom,
# about 80 s the first time), with --cfg loom, in release (loom is slow unoptimized).
# Extra arguments go to the test binary (a test name to run only that one, say).
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
# index.rs's own tests come along with the file; they run in the ordinary suite.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p ipc --test loom_ring --release -- --skip index:: "$@"
