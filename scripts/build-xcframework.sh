#!/usr/bin/env bash
# build-xcframework.sh - build BlazeDBFFI.xcframework (the Rust core as static libraries plus
# the generated C header and module map) for iOS devices, the iOS simulator and macOS, zip it
# and print its SwiftPM checksum. The Swift package uses it as a binaryTarget (see
# swift-package/README.md, "Prebuilt XCFramework").
#
# Usage (on a Mac with Xcode and rustup):
#   scripts/build-xcframework.sh                       # build into swift-package/XCFramework/
#   scripts/build-xcframework.sh --url URL             # also pin Package.swift to URL + checksum
#
# Output:
#   swift-package/XCFramework/BlazeDBFFI.xcframework           # used by BLAZEDB_XCFRAMEWORK=local
#   swift-package/XCFramework/BlazeDBFFI.xcframework.zip       # upload this for a release
#   swift-package/XCFramework/BlazeDBFFI.xcframework.zip.checksum
#   swift-package/Sources/BlazeDBBindings/BlazeDBBindings.swift (generated, same build)
#
# Slices: ios-arm64 (aarch64-apple-ios), ios-arm64_x86_64-simulator (aarch64-apple-ios-sim +
# x86_64-apple-ios, lipo'd), macos-arm64_x86_64 (aarch64-apple-darwin + x86_64-apple-darwin).
# Cargo profile `mobile` (Cargo.toml): release, fat LTO, one codegen unit, no debug info;
# panics still unwind, because the FFI layer catches them at the boundary.
# The libraries are stripped of debug symbols and local symbols (strip -S -x); the exported
# C functions stay. Each slice's headers live in Headers/BlazeDBFFI/ with the module map named
# module.modulemap (clang finds it by module name in that subdirectory), so two xcframeworks
# in one app never both write include/module.modulemap.
#
# Environment: IOS_DEPLOYMENT_TARGET (15.0), MACOSX_DEPLOYMENT_TARGET (13.0), matching
# swift-package/Package.swift's platforms; CARGO_TARGET_DIR.
#
# This cannot run on Linux (it needs xcodebuild, lipo and the Apple SDKs); CI does not run it.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

URL=""
while [ $# -gt 0 ]; do
  case "$1" in
    --url) URL=${2:?--url needs a value}; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS with Xcode" >&2; exit 2; }
for tool in xcodebuild lipo cargo rustup swift; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done

export IOS_DEPLOYMENT_TARGET=${IOS_DEPLOYMENT_TARGET:-15.0}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-13.0}
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
OUT=$REPO/swift-package/XCFramework
NAME=BlazeDBFFI
LIB=libblazedb_ffi.a
TRIPLES=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
log() { printf '[xcframework] %s\n' "$*" >&2; }

log "rustup targets"
rustup target add "${TRIPLES[@]}" >/dev/null

for t in "${TRIPLES[@]}"; do
  log "cargo build -p blazedb-ffi --profile mobile --target $t"
  cargo build --locked -p blazedb-ffi --profile mobile --target "$t" --target-dir "$TARGET_DIR"
done

# Header, module map and Swift bindings come from the host build of the same sources
# (library mode reads the UniFFI metadata from the compiled library).
log "uniffi-bindgen (Swift) from the macOS build"
cargo build --locked --manifest-path bindings/uniffi-bindgen/Cargo.toml --target-dir "$TARGET_DIR/uniffi-bindgen"
GEN=$(mktemp -d)
trap 'rm -rf "$GEN"' EXIT
"$TARGET_DIR/uniffi-bindgen/debug/uniffi-bindgen" generate --no-format \
  "$TARGET_DIR/aarch64-apple-darwin/mobile/$LIB" --language swift --out-dir "$GEN" >/dev/null
mkdir -p "$GEN/headers/$NAME"
cp "$GEN/$NAME.h" "$GEN/headers/$NAME/$NAME.h"
cp "$GEN/$NAME.modulemap" "$GEN/headers/$NAME/module.modulemap"
# A static library slice must not declare a `framework module`.
sed -i '' 's/^framework module/module/' "$GEN/headers/$NAME/module.modulemap"
cp "$GEN/BlazeDBBindings.swift" swift-package/Sources/BlazeDBBindings/BlazeDBBindings.swift

slice() {  # NAME TRIPLE... : lipo the triples' libraries into $GEN/NAME/$LIB and strip it
  local dir="$GEN/$1"; shift
  mkdir -p "$dir"
  local libs=()
  for t in "$@"; do libs+=("$TARGET_DIR/$t/mobile/$LIB"); done
  lipo -create "${libs[@]}" -output "$dir/$LIB"
  strip -S -x "$dir/$LIB"
  echo "$dir/$LIB"
}
IOS=$(slice ios aarch64-apple-ios)
SIM=$(slice ios-simulator aarch64-apple-ios-sim x86_64-apple-ios)
MAC=$(slice macos aarch64-apple-darwin x86_64-apple-darwin)

log "xcodebuild -create-xcframework"
rm -rf "$OUT/$NAME.xcframework" "$OUT/$NAME.xcframework.zip"
mkdir -p "$OUT"
xcodebuild -create-xcframework \
  -library "$IOS" -headers "$GEN/headers" \
  -library "$SIM" -headers "$GEN/headers" \
  -library "$MAC" -headers "$GEN/headers" \
  -output "$OUT/$NAME.xcframework" >/dev/null

log "zip and checksum"
(cd "$OUT" && ditto -c -k --sequesterRsrc --keepParent "$NAME.xcframework" "$NAME.xcframework.zip")
CHECKSUM=$(swift package compute-checksum "$OUT/$NAME.xcframework.zip")
echo "$CHECKSUM" >"$OUT/$NAME.xcframework.zip.checksum"
du -sh "$OUT/$NAME.xcframework" "$OUT/$NAME.xcframework.zip" >&2

if [ -n "$URL" ]; then
  # Pins the two constants Package.swift reads for remote binary distribution.
  log "pinning swift-package/Package.swift to $URL"
  sed -i '' \
    -e "s|^let xcframeworkURL: String? = .*|let xcframeworkURL: String? = \"$URL\"|" \
    -e "s|^let xcframeworkChecksum: String? = .*|let xcframeworkChecksum: String? = \"$CHECKSUM\"|" \
    swift-package/Package.swift
fi
log "done: $OUT/$NAME.xcframework.zip checksum $CHECKSUM"
