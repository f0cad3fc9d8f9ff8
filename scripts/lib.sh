# Shared steps for the scenario scripts (sourced, not run). Twin: lib.ps1.
# BAOZI_PROFILE=release builds and runs optimised binaries; the default is debug, which
# shares its build with `cargo test`.

PROFILE="${BAOZI_PROFILE:-debug}"
BIN="target/$PROFILE"

# Builds every binary of the workspace once.
build() {
    if [ "$PROFILE" = release ]; then
        cargo build --workspace --release --quiet
    else
        cargo build --workspace --quiet
    fi
}

# Prints a step heading.
step() { printf '\n== %s\n' "$*"; }

# Waits until FILE has a line starting with "ready: " (a listener's fixed ready line),
# polling for up to 30 s; prints the address from it.
wait_ready() {
    local file=$1 i
    for ((i = 0; i < 600; i++)); do
        if grep -q '^ready: ' "$file" 2>/dev/null; then
            sed -n 's/^ready: //p' "$file" | head -n 1
            return 0
        fi
        sleep 0.05 # poll for the ready line
    done
    echo "no ready line in $file after 30 s:" >&2
    cat "$file" >&2
    return 1
}

# Adds up the "test result:" lines of a cargo test log into one closing line,
# "tests: N passed, N failed".
summarize_tests() {
    awk '/^test result:/ {
            for (i = 2; i <= NF; i++) {
                if ($i ~ /^passed;?$/) p += $(i - 1)
                if ($i ~ /^failed;?$/) f += $(i - 1)
            }
        }
        END { printf "tests: %d passed, %d failed\n", p, f }' "$1"
}
