#!/usr/bin/env bash
# Runs the demo of every mechanism: each scenario script that exists, in tutorial order.
# Beside ours, the tutorial's own Python programs (python/tutorial/) where Python 3 is
# installed; without it each such step says so in one line: the demo needs no Python.
# Twin: demo.ps1.
set -euo pipefail
cd "$(dirname "$0")"
# Each scenario builds quietly; on a fresh clone that first build takes a while: say so,
# and show cargo's progress while it happens.
printf 'demo: building the programs (cargo build; a minute or more the first time)\n'
if [ "${BAOZI_PROFILE:-debug}" = release ]; then
    (cd .. && cargo build --workspace --release)
else
    (cd .. && cargo build --workspace)
fi
for scenario in pipe queue socket counter semaphore; do
    if [ -f "$scenario.sh" ]; then
        printf '\n######## %s\n' "$scenario"
        bash "$scenario.sh"
    fi
done
printf '\ndemo: every scenario passed\n'
