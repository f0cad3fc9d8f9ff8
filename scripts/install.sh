#!/usr/bin/env bash
# Puts the programs on PATH: builds them once in release, copies them into cargo's bin
# directory (~/.cargo/bin, already on PATH wherever rustup set cargo up), then writes their
# man pages and shell completions, generated from the programs themselves
# (`PROGRAM --generate KIND DIR`). Twin: install.ps1.
#
# The man pages go beside the bin directory, in BIN_DIR/../share/man (~/.cargo/share/man):
# man-db looks in DIR/../share/man for every DIR on PATH, so `man producer` works with no
# set-up. The completions go where the shells' own loaders look (~/.local/share, fish's
# ~/.config/fish); the script ends by saying how to load them where nothing does.
#
#   scripts/install.sh                                  # ~/.cargo/bin, ~/.cargo/share/man
#   BIN_DIR=/usr/local/bin DATA_DIR=/usr/local/share scripts/install.sh
#   BUILD_DIR=target/debug scripts/install.sh           # copy these builds, build nothing
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR="${BIN_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}"
MAN_DIR="${MAN_DIR:-$(dirname "$BIN_DIR")/share/man}"
DATA_DIR="${DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}}"
programs=(producer consumer broker server client counter)

if [ -n "${BUILD_DIR:-}" ]; then
    build="$BUILD_DIR"
else
    echo "install: building the release binaries (cargo build --release; a few minutes the first time)"
    cargo build --workspace --release --bins
    build=target/release
fi
for p in "${programs[@]}"; do
    if [ ! -x "$build/$p" ]; then
        echo "install: error: $build/$p is not there (build it first: cargo build --workspace --bins)" >&2
        exit 1
    fi
done
mkdir -p "$BIN_DIR"
for p in "${programs[@]}"; do
    install -m 0755 "$build/$p" "$BIN_DIR/$p"
done
echo "install: ${programs[*]} -> $BIN_DIR"

man="$MAN_DIR/man1"
bash_dir="$DATA_DIR/bash-completion/completions"
zsh_dir="$DATA_DIR/zsh/site-functions"
fish_dir="${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for p in "${programs[@]}"; do
    for kind in man bash zsh fish; do
        if ! out="$("$BIN_DIR/$p" --generate "$kind" "$tmp/$kind" 2>&1)"; then
            echo "install: error: $out" >&2
            exit 1
        fi
    done
done
mkdir -p "$man" "$bash_dir" "$zsh_dir" "$fish_dir"
# counter's page names one page per subcommand (counter-run(1), ...): all of them go.
install -m 0644 "$tmp"/man/*.1 "$man/"
for p in "${programs[@]}"; do
    install -m 0644 "$tmp/bash/$p.bash" "$bash_dir/$p"
    install -m 0644 "$tmp/zsh/_$p" "$zsh_dir/_$p"
    install -m 0644 "$tmp/fish/$p.fish" "$fish_dir/$p.fish"
done
echo "install: man pages -> $man (try: man producer, man counter-run)"
if [ -n "${MANPATH:-}" ]; then
    case ":$MANPATH:" in
    *"::"* | *":$MAN_DIR:"*) ;; # an empty entry stands for man's own search path
    *) echo "install: your MANPATH replaces man's search path: add $MAN_DIR to it, or a ':' at its end" ;;
    esac
fi
echo "install: completions (of options; bash and zsh also offer each program's example addresses):"
echo "  bash: $bash_dir, loaded on demand by the bash-completion package;"
echo "        without that package, add to ~/.bashrc:"
echo "        for f in $bash_dir/{$(IFS=,; echo "${programs[*]}")}; do . \"\$f\"; done"
echo "  zsh:  $zsh_dir; add to ~/.zshrc, before compinit:"
echo "        fpath=($zsh_dir \$fpath); autoload -Uz compinit && compinit"
echo "  fish: $fish_dir, loaded by fish as it is"
case ":$PATH:" in
*":$BIN_DIR:"*) ;;
*) echo "install: $BIN_DIR is not on your PATH; add it: export PATH=\"$BIN_DIR:\$PATH\"" ;;
esac
