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

# Every runner's output also goes to a log, so the last line can total the tests run.
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
run() { "$@" 2>&1 | tee -a "$LOG"; }

if ! command -v cargo >/dev/null; then
  echo "cargo is required (install Rust with rustup)" >&2
  exit 1
fi

log "rustfmt"
run cargo fmt --all -- --check

log "clippy"
run cargo clippy --workspace --all-targets --locked -- -D warnings

log "Rust tests"
run cargo test --workspace --locked

log "Binding suites: Swift (XCTest in a trixie chroot), Kotlin (JVM), Python"
run bash scripts/test-bindings.sh

# Totals: cargo's "test result" lines, and the binding summary lines of test-bindings.sh.
rust=$(grep -oE 'test result: ok\. [0-9]+ passed' "$LOG" | awk '{s += $4} END {print s + 0}')
swift=$(grep -oE 'PASS  swift: Executed [0-9]+ tests' "$LOG" | awk '{s += $4} END {print s + 0}')
kotlin=$(grep -oE 'PASS  kotlin: [0-9]+ passed' "$LOG" | awk '{s += $3} END {print s + 0}')
python=$(grep -oE 'PASS  python: [0-9]+ passed' "$LOG" | awk '{s += $3} END {print s + 0}')
log "all suites passed: Rust $rust, Swift $swift, Kotlin $kotlin, Python $python"
echo "tests: $((rust + swift + kotlin + python)) passed, 0 failed"
