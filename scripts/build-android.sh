#!/usr/bin/env bash
# build-android.sh - build the Rust core for Android (4 ABIs, 16 KB page-aligned) and
# generate its Kotlin bindings, laid out for an Android library module.
#
# Usage:
#   scripts/build-android.sh [OUT]        # needs the Android NDK (r27 or newer) and cargo-ndk
#   scripts/build-android.sh --host-check # Linux, no NDK: proves the 16 KB link flags on a
#                                         # host build of the same library
#
# Output (OUT defaults to build/android):
#   OUT/jniLibs/{arm64-v8a,armeabi-v7a,x86_64,x86}/libblazedb_ffi.so
#   OUT/kotlin/blazedb/blazedb_ffi.kt     # generated with android = true (uniffi-android.toml)
# Copy jniLibs/ to app/src/main/jniLibs (or a library module's), add the Kotlin file to the
# module's sources and depend on "net.java.dev.jna:jna:5.x@aar".
#
# 16 KB pages: Android 15+ devices may use 16 KB memory pages, and Google Play requires 64-bit
# native libraries whose ELF LOAD segments are aligned to 16 KB. NDK r28+ links that way by
# default; for r27 and to be explicit on every NDK we pass -z max-page-size=16384 (and
# common-page-size) to the linker for every ABI, then check every LOAD segment's alignment
# with llvm-readelf and fail if one is below 0x4000.
#
# Build profile: `mobile` (Cargo.toml): release, fat LTO, no debug info, panic = unwind so the
# FFI layer can catch panics. cargo-ndk strips the libraries it copies into OUT.
#
# Environment: ANDROID_NDK_HOME (or ANDROID_NDK_ROOT), ANDROID_PLATFORM (minSdk, default 24),
# CARGO_TARGET_DIR.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"

PAGE_FLAGS="-C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-z,common-page-size=16384"
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
log() { printf '[android] %s\n' "$*" >&2; }

check_alignment() {  # READELF LIB: every PT_LOAD aligned to at least 16 KB
  local readelf=$1 lib=$2 align n=0
  for align in $("$readelf" -lW "$lib" | awk '$1 == "LOAD" { print $NF }'); do
    n=$((n + 1))
    if (( align < 16384 )); then  # bash reads the 0x... hex itself
      echo "FAIL: $lib has a LOAD segment aligned to $align (< 0x4000)" >&2
      return 1
    fi
  done
  (( n > 0 )) || { echo "FAIL: no LOAD segments in $lib" >&2; return 1; }
  log "16 KB aligned ($n LOAD segments): $lib"
}

if [ "${1:-}" = --host-check ]; then
  # The same flags on the host's linker: what the NDK's lld does with them for each ABI.
  log "host build of blazedb-ffi with the Android page flags"
  RUSTFLAGS="$PAGE_FLAGS" cargo build --locked -q -p blazedb-ffi --release \
    --target-dir "$TARGET_DIR/android-host-check"
  check_alignment readelf "$TARGET_DIR/android-host-check/release/libblazedb_ffi.so"
  exit 0
fi

OUT=${1:-$REPO/build/android}
NDK=${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}
[ -n "$NDK" ] && [ -d "$NDK" ] || { echo "set ANDROID_NDK_HOME to an NDK (r27 or newer)" >&2; exit 2; }
command -v cargo-ndk >/dev/null || { echo "install cargo-ndk: cargo install cargo-ndk" >&2; exit 2; }
PLATFORM=${ANDROID_PLATFORM:-24}
READELF=$(find "$NDK/toolchains/llvm/prebuilt" -name llvm-readelf -type f | head -n 1)
[ -n "$READELF" ] || { echo "llvm-readelf not found in $NDK" >&2; exit 2; }

ABIS=(arm64-v8a armeabi-v7a x86_64 x86)
log "rustup targets"
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android >/dev/null

rm -rf "$OUT/jniLibs" "$OUT/kotlin"
mkdir -p "$OUT/jniLibs" "$OUT/kotlin"
TARGET_ARGS=()
for abi in "${ABIS[@]}"; do TARGET_ARGS+=(-t "$abi"); done
log "cargo ndk ${TARGET_ARGS[*]} --platform $PLATFORM (profile mobile)"
RUSTFLAGS="$PAGE_FLAGS" cargo ndk "${TARGET_ARGS[@]}" --platform "$PLATFORM" -o "$OUT/jniLibs" \
  build --locked -p blazedb-ffi --profile mobile --target-dir "$TARGET_DIR"

for abi in "${ABIS[@]}"; do
  check_alignment "$READELF" "$OUT/jniLibs/$abi/libblazedb_ffi.so"
done

# From the unstripped build: library mode reads UniFFI's metadata symbols.
log "uniffi-bindgen (Kotlin, android = true)"
cargo build --locked -q --manifest-path bindings/uniffi-bindgen/Cargo.toml --target-dir "$TARGET_DIR/uniffi-bindgen"
"$TARGET_DIR/uniffi-bindgen/debug/uniffi-bindgen" generate --no-format \
  --config bindings/blazedb-ffi/uniffi-android.toml \
  "$TARGET_DIR/aarch64-linux-android/mobile/libblazedb_ffi.so" --language kotlin --out-dir "$OUT/kotlin" >/dev/null

du -sh "$OUT"/jniLibs/* >&2
log "done: $OUT"
