#!/usr/bin/env bash
# Runs every test suite of the project. This is the README's test command; .ci/run calls it.
#
# It installs what it needs itself, so it works on a fresh machine: the Swift toolchain in a
# cached Debian trixie chroot (scripts/swift-in-chroot.sh), JNA and kotlinc
# (scripts/setup-kotlin.sh), and the crates through cargo.
# Environment:
#   BLAZEDB_SOAK=1   also run the slow soaks (longer kill loops, larger property runs).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null; then
  echo "cargo is required (install Rust with rustup)" >&2
  exit 1
fi

log "rustfmt"
cargo fmt --all -- --check

log "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "Rust tests"
cargo test --workspace --locked

log "Binding suites: Swift (XCTest in a trixie chroot), Kotlin (JVM), Python"
bash scripts/test-bindings.sh

log "all suites passed"
