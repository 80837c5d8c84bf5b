#!/usr/bin/env bash
# build-rust.sh - build the Rust side of the Swift package and generate its internal targets.
#
#   swift-package/scripts/build-rust.sh            # debug build (the test default)
#   BLAZEDB_PROFILE=release swift-package/scripts/build-rust.sh
#
# Steps, each its own cargo call so the bindgen's dependencies (clap, goblin, askama,
# cargo_metadata) never unify into the library:
#   1. cargo build -p blazedb-ffi          -> target/<profile>/libblazedb_ffi.{a,so}
#   2. cargo build bindings/uniffi-bindgen  -> target/uniffi-bindgen/debug/uniffi-bindgen
#   3. uniffi-bindgen generate (library mode) for Swift
#   4. copy: BlazeDBFFI.h + module.modulemap -> Sources/BlazeDBFFI/,
#            BlazeDBBindings.swift -> Sources/BlazeDBBindings/, libblazedb_ffi.a -> RustLib/
# Files are only rewritten when their content changed, and the package's test binary is
# deleted when the library changed (SwiftPM does not track RustLib/ as an input).
# Environment: BLAZEDB_PROFILE (debug|release), CARGO_TARGET_DIR, CARGO_FLAGS (e.g. --locked).
set -euo pipefail
PKG=$(cd "$(dirname "$0")/.." && pwd)
REPO=$(cd "$PKG/.." && pwd)
PROFILE=${BLAZEDB_PROFILE:-debug}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
read -r -a FLAGS <<<"${CARGO_FLAGS:-}"
case "$PROFILE" in
  debug) PROFILE_ARGS=() ;;
  release) PROFILE_ARGS=(--release) ;;
  *) echo "BLAZEDB_PROFILE must be debug or release" >&2; exit 2 ;;
esac
log() { printf '[build-rust] %s\n' "$*" >&2; }

cd "$REPO"
log "cargo build -p blazedb-ffi ($PROFILE)"
nice cargo build -q ${FLAGS[@]+"${FLAGS[@]}"} -p blazedb-ffi "${PROFILE_ARGS[@]}" --target-dir "$TARGET"
LIB="$TARGET/$PROFILE"
BINDGEN_TARGET="$TARGET/uniffi-bindgen"
log "cargo build uniffi-bindgen (separate workspace and call)"
nice cargo build -q ${FLAGS[@]+"${FLAGS[@]}"} --manifest-path bindings/uniffi-bindgen/Cargo.toml --target-dir "$BINDGEN_TARGET"
BINDGEN="$BINDGEN_TARGET/debug/uniffi-bindgen"

GEN=$(mktemp -d)
trap 'rm -rf "$GEN"' EXIT
log "uniffi-bindgen generate --language swift"
# Library mode runs `cargo metadata` in the current directory: stay in the workspace root.
"$BINDGEN" generate --no-format "$LIB/libblazedb_ffi.so" --language swift --out-dir "$GEN" >/dev/null

install_if_changed() {  # SRC DST
  if ! cmp -s "$1" "$2"; then cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; return 0; fi
  return 1
}
install_if_changed "$GEN/BlazeDBFFI.h" "$PKG/Sources/BlazeDBFFI/BlazeDBFFI.h" || true
install_if_changed "$GEN/BlazeDBFFI.modulemap" "$PKG/Sources/BlazeDBFFI/module.modulemap" || true
install_if_changed "$GEN/BlazeDBBindings.swift" "$PKG/Sources/BlazeDBBindings/BlazeDBBindings.swift" || true
mkdir -p "$PKG/RustLib"
if install_if_changed "$LIB/libblazedb_ffi.a" "$PKG/RustLib/libblazedb_ffi.a"; then
  log "Rust library changed: dropping stale Swift test binaries"
  rm -rf "$PKG"/.build/*/BlazeDBPackageTests.xctest "$PKG"/Examples/Consumer/.build/*/Consumer
fi
log "done: $PKG (Rust $PROFILE)"
