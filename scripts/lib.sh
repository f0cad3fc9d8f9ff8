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

# Waits until FILE has N lines starting with "ready: " (a listener's fixed ready line; N is 1
# unless given, more for a program that listens on several addresses), polling for up to
# 30 s; prints the address from each, one a line.
wait_ready() {
    local file=$1 n=${2:-1} i count
    for ((i = 0; i < 600; i++)); do
        count=$(grep -c '^ready: ' "$file" 2>/dev/null || true)
        if [ "${count:-0}" -ge "$n" ]; then
            sed -n 's/^ready: //p' "$file" | head -n "$n"
            return 0
        fi
        sleep 0.05 # poll for the ready line
    done
    echo "no $n ready line(s) in $file after 30 s:" >&2
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

# The tutorial's own programs (python/tutorial/) run beside ours where python3 is installed
# (scripts/test.sh installs it); without it, a step that runs one says so in one line and is
# skipped: the demo needs no Python. Usage: `if have_python; then ...; fi`.
have_python() {
    command -v python3 >/dev/null && return 0
    echo "(python3 is not installed: the tutorial's program is skipped)"
    return 1
}
