#!/usr/bin/env bash
# Puts the programs on PATH: builds them once in release, copies them into cargo's bin
# directory (~/.cargo/bin, already on PATH wherever rustup set cargo up), then writes their
# man pages and shell completions, generated from the programs themselves
# (`PROGRAM --generate KIND DIR`). Twin: install.ps1.
#
#   scripts/install.sh                  # into ~/.cargo/bin and ~/.local/share
#   BIN_DIR=/usr/local/bin DATA_DIR=/usr/local/share scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR="${BIN_DIR:-${CARGO_HOME:-$HOME/.cargo}/bin}"
DATA_DIR="${DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}}"
programs=(producer consumer broker server client counter)
documented=("${programs[@]}") # every one writes its man page and completions

echo "install: building the release binaries (cargo build --release; a few minutes the first time)"
cargo build --workspace --release --bins
mkdir -p "$BIN_DIR"
for p in "${programs[@]}"; do
    install -m 0755 "target/release/$p" "$BIN_DIR/$p"
done
echo "install: ${programs[*]} -> $BIN_DIR"

man="$DATA_DIR/man/man1"
bash_dir="$DATA_DIR/bash-completion/completions"
zsh_dir="$DATA_DIR/zsh/site-functions"
fish_dir="${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for p in "${documented[@]}"; do
    for kind in man bash zsh fish; do
        "$BIN_DIR/$p" --generate "$kind" "$tmp/$kind" 2>/dev/null
    done
    mkdir -p "$man" "$bash_dir" "$zsh_dir" "$fish_dir"
    install -m 0644 "$tmp/man/$p.1" "$man/$p.1"
    install -m 0644 "$tmp/bash/$p.bash" "$bash_dir/$p"
    install -m 0644 "$tmp/zsh/_$p" "$zsh_dir/_$p"
    install -m 0644 "$tmp/fish/$p.fish" "$fish_dir/$p.fish"
done
echo "install: man pages -> $man (try: man producer)"
echo "install: completions -> $bash_dir, $zsh_dir (add it to fpath), $fish_dir"
case ":$PATH:" in
*":$BIN_DIR:"*) ;;
*) echo "install: $BIN_DIR is not on your PATH; add it: export PATH=\"$BIN_DIR:\$PATH\"" ;;
esac
