#!/usr/bin/env bash
# test-bindings.sh - build the native library, generate the Swift, Kotlin and Python bindings,
# and run every binding suite: XCTest (swift test, in the trixie chroot), the consumer
# package that depends on swift-package/ by path, the Kotlin/JVM tests and the pytest suite.
#
# Usage (as root on a fresh machine it installs its own toolchains):
#   scripts/test-bindings.sh
#
# Environment:
#   BLAZEDB_BINDINGS   which suites to run (default "swift kotlin python")
#   BLAZEDB_PROFILE    debug (default) or release build of the Rust library
#   CARGO_FLAGS        extra cargo flags (default --locked)
#   CARGO_TARGET_DIR   cargo target directory (default target/)
#   SWIFT_CHROOT, KOTLIN_CACHE   passed through to scripts/swift-in-chroot.sh and
#                      scripts/setup-kotlin.sh (their caches)
#
# Steps: setup-kotlin.sh (JDK, JNA, kotlinc); the Swift chroot set up in the background while
# cargo builds; swift-package/scripts/build-rust.sh (libblazedb_ffi, then uniffi-bindgen in a
# cargo call of its own, then the Swift bindings); uniffi-bindgen for Kotlin and Python; then
# each suite. Every suite runs even if an earlier one failed; the summary lists each one's
# result and the exit status is non-zero if any failed.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

SUITES=${BLAZEDB_BINDINGS:-swift kotlin python}
PROFILE=${BLAZEDB_PROFILE:-debug}
export CARGO_FLAGS=${CARGO_FLAGS:---locked}
export BLAZEDB_PROFILE=$PROFILE
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
export CARGO_TARGET_DIR=$TARGET
LIBDIR="$TARGET/$PROFILE"
BINDGEN="$TARGET/uniffi-bindgen/debug/uniffi-bindgen"
GEN="$TARGET/bindings"               # generated Kotlin/Python and the Kotlin jar
PKG="$REPO/swift-package"
T0=$SECONDS
RESULTS=()
FAILED=0

has() { case " $SUITES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
step() { printf '\n==> [bindings +%ss] %s\n' "$((SECONDS - T0))" "$*"; }
result() {  # NAME RC SUMMARY
  if [ "$2" = 0 ]; then RESULTS+=("PASS  $1: $3"); else RESULTS+=("FAIL  $1: $3 (exit $2)"); FAILED=1; fi
}

# --- toolchains ------------------------------------------------------------------------------
if has kotlin; then
  step "Kotlin toolchain (scripts/setup-kotlin.sh)"
  eval "$(scripts/setup-kotlin.sh --shell)"
fi
CHROOT_PID=""
if has swift; then
  step "Swift chroot setup (background, while cargo builds)"
  mkdir -p "$TARGET"
  scripts/swift-in-chroot.sh --setup-only >"$TARGET/swift-chroot-setup.log" 2>&1 &
  CHROOT_PID=$!
fi

# --- native library and Swift bindings -------------------------------------------------------
step "Rust library ($PROFILE), uniffi-bindgen, Swift bindings (swift-package/scripts/build-rust.sh)"
swift-package/scripts/build-rust.sh

step "Kotlin and Python bindings (uniffi-bindgen, library mode)"
rm -rf "$GEN/kotlin" "$GEN/python"
mkdir -p "$GEN/kotlin" "$GEN/python"
# Library mode runs `cargo metadata` in the current directory: run it at the workspace root.
has kotlin && "$BINDGEN" generate --no-format "$LIBDIR/libblazedb_ffi.so" --language kotlin --out-dir "$GEN/kotlin" >/dev/null
has python && "$BINDGEN" generate --no-format "$LIBDIR/libblazedb_ffi.so" --language python --out-dir "$GEN/python" >/dev/null
has python && cp "$LIBDIR/libblazedb_ffi.so" "$GEN/python/"

# --- Python ----------------------------------------------------------------------------------
if has python; then
  step "Python: pytest bindings/python-tests"
  if ! python3 -c 'import pytest' 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore pytest
  fi
  set +e
  (cd bindings/python-tests && PYTHONPATH="$GEN/python" PYTHONDONTWRITEBYTECODE=1 \
    python3 -m pytest -q -p no:cacheprovider 2>&1) | tee "$GEN/python.log"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" = 5 ] && rc=1        # pytest: no tests collected is a failure here
  result python "$rc" "$(grep -E '[0-9]+ (passed|failed)' "$GEN/python.log" | tail -n 1)"
fi

# --- Kotlin ----------------------------------------------------------------------------------
if has kotlin; then
  step "Kotlin: kotlinc + java bindings/kotlin-tests"
  set +e
  "$KOTLINC" -nowarn -cp "$JNA_JAR" "$GEN"/kotlin/blazedb/*.kt bindings/kotlin-tests/Main.kt \
    -d "$GEN/kotlin-tests.jar" 2>&1 | tail -n 40
  rc=${PIPESTATUS[0]}
  if [ "$rc" = 0 ]; then
    java -Djna.library.path="$LIBDIR" -cp "$GEN/kotlin-tests.jar:$JNA_JAR:$KOTLIN_STDLIB_JAR" MainKt \
      >"$GEN/kotlin.log" 2>&1
    rc=$?
    grep -vE '^ok   - ' "$GEN/kotlin.log" || true
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$GEN/kotlin.log" | tail -n 1)
  else
    summary="kotlinc failed"
  fi
  set -e
  result kotlin "$rc" "${summary:-no summary line}"
fi

# --- Swift -----------------------------------------------------------------------------------
if has swift; then
  step "Swift: waiting for the chroot"
  if ! wait "$CHROOT_PID"; then
    cat "$TARGET/swift-chroot-setup.log" >&2
    result swift 2 "chroot setup failed"
  else
    step "Swift: swift test (XCTest, Swift 6 mode, warnings are errors)"
    set +e
    scripts/swift-in-chroot.sh -q -b "$PKG" -- swift test -Xswiftc -warnings-as-errors 2>&1 \
      | grep -vE '^\[[0-9]+/[0-9]+\]|^Test Case .*(started|passed)|^Test Suite .*started' | tee "$GEN/swift.log"
    rc=${PIPESTATUS[0]}
    set -e
    result swift "$rc" "$(grep -E 'Executed [0-9]+ tests' "$GEN/swift.log" | tail -n 1 | sed 's/^[[:space:]]*//')"

    step "Swift: consumer package (swift-package/Examples/Consumer, .package(path:))"
    set +e
    scripts/swift-in-chroot.sh -q -b "$PKG" -w "$PKG/Examples/Consumer" -- \
      bash -c 'set -o pipefail; swift build -Xswiftc -warnings-as-errors 2>&1 | { grep -vE "^\[[0-9]+/[0-9]+\]" || true; } && ./.build/debug/Consumer' \
      2>&1 | tee "$GEN/consumer.log"
    rc=${PIPESTATUS[0]}
    set -e
    if ! grep -q '^consumer: ok' "$GEN/consumer.log" && [ "$rc" = 0 ]; then rc=1; fi
    result swift-consumer "$rc" "$(grep -E '^consumer:' "$GEN/consumer.log" | tail -n 1)"
  fi
fi

step "binding suites done in $((SECONDS - T0))s"
for r in "${RESULTS[@]}"; do echo "  $r"; done
exit "$FAILED"
