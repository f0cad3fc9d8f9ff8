#!/usr/bin/env bash
# Runs the demo of every mechanism: each scenario script that exists, in tutorial order.
# Twin: demo.ps1.
set -euo pipefail
cd "$(dirname "$0")"
for scenario in pipe queue socket counter semaphore; do
    if [ -f "$scenario.sh" ]; then
        printf '\n######## %s\n' "$scenario"
        bash "$scenario.sh"
    fi
done
printf '\ndemo: every scenario passed\n'
