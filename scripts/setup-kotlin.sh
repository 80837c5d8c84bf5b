#!/usr/bin/env bash
# setup-kotlin.sh - make sure the Kotlin/JVM toolchain for BlazeDB's Kotlin binding tests
# is present, and tell the caller where it is. Idempotent; a warm run takes well under 1 s.
#
# What it provides:
#   * a JDK (java + javac): Debian's default-jdk-headless if none is installed;
#   * JNA: Debian's libjna-java (/usr/share/java/jna.jar; it pulls in libjna-jni, whose
#     libjnidispatch.system.so Debian's jna.jar needs, as it bundles no native part);
#   * kotlinc: the official compiler distribution from the npm package `kotlin-compiler`
#     (pinned, checksum-verified), unpacked into a private cache directory - no global
#     npm install, and npm's download cache is a throwaway temp dir.
#
# Usage (root is needed only while Debian packages are still missing):
#   scripts/setup-kotlin.sh               # install if needed; print KEY=VALUE lines
#   scripts/setup-kotlin.sh --shell       # same, as `export KEY='value'` lines:
#       eval "$(scripts/setup-kotlin.sh --shell)"
#   source scripts/setup-kotlin.sh        # install if needed and export the variables
#                                         # into the current shell (no `set -e` leaks;
#                                         # arguments are ignored when sourced)
#   scripts/setup-kotlin.sh --get KOTLINC # print one value, e.g. KOTLINC=$(... --get KOTLINC)
#   scripts/setup-kotlin.sh --check       # also compile and run a hello-world as a smoke test
#   scripts/setup-kotlin.sh --help
# Progress messages go to stderr; stdout carries only the requested output.
#
# Variables printed/exported:
#   KOTLIN_HOME             the unpacked kotlinc distribution
#   KOTLINC                 an executable kotlinc wrapper (use this, not $KOTLIN_HOME/bin/kotlinc:
#                           it does not depend on npm keeping exec bits, and it defaults
#                           JAVA_OPTS to a faster setting, see below)
#   KOTLIN_VERSION          e.g. 2.4.20
#   KOTLIN_STDLIB_JAR       kotlin-stdlib.jar - needed on the *run* classpath
#   KOTLIN_TEST_JAR         kotlin-test.jar (assertEquals, assertFailsWith; no JUnit needed)
#   KOTLINX_COROUTINES_JAR  kotlinx-coroutines-core-jvm.jar - compile+run classpath when the
#                           UniFFI bindings have async functions
#   JNA_JAR                 /usr/share/java/jna.jar - compile+run classpath of UniFFI bindings
#   JAVA_HOME               the JDK in use
#
# Typical use afterwards:
#   "$KOTLINC" -nowarn -cp "$JNA_JAR" bindings.kt Main.kt -d test.jar
#   java -Djna.library.path=target/debug -cp "test.jar:$JNA_JAR:$KOTLIN_STDLIB_JAR" MainKt
#
# Environment:
#   KOTLIN_VERSION   npm kotlin-compiler version (default 2.4.20; only the default has a
#                    pinned sha256 here, others are checked against the registry's integrity)
#   KOTLIN_CACHE     cache directory (default /var/cache/blazedb/kotlin)
#   KOTLINC_JAVA_OPTS  JAVA_OPTS the wrapper uses when JAVA_OPTS is unset
#                    (default "-Xmx2G -XX:+UseParallelGC -XX:TieredStopAtLevel=1", which
#                    cut kotlinc's time by ~40% on 2 cores versus its -Xmx512M default)

# --- sourced: run as a child process (so set -euo pipefail stays out of the caller's
# --- shell) and export what it prints.
if [ -n "${BASH_SOURCE[0]:-}" ] && [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Arguments are ignored: a sourcing script's own "$@" would otherwise leak in.
  if __blazedb_kt_env=$(bash "${BASH_SOURCE[0]}" --shell); then
    eval "$__blazedb_kt_env"
    unset __blazedb_kt_env
    return 0
  else
    __blazedb_kt_rc=$?
    unset __blazedb_kt_env
    echo "setup-kotlin.sh: failed (exit $__blazedb_kt_rc)" >&2
    return "$__blazedb_kt_rc"
  fi
fi

set -euo pipefail

KOTLIN_VERSION=${KOTLIN_VERSION:-2.4.20}
KOTLIN_CACHE=${KOTLIN_CACHE:-/var/cache/blazedb/kotlin}
KOTLINC_JAVA_OPTS=${KOTLINC_JAVA_OPTS:--Xmx2G -XX:+UseParallelGC -XX:TieredStopAtLevel=1}
PINNED_VERSION=2.4.20
PINNED_SHA256=c23dab400d7ce5ea8b6c909947c0ca5454189e4bb1108695b5f464500e5e950f
JNA_JAR=/usr/share/java/jna.jar
JNA_DISPATCH=/usr/lib/x86_64-linux-gnu/jni/libjnidispatch.system.so

MODE="env" GET_KEY="" CHECK=0
log() { printf '[setup-kotlin %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }
usage() { sed -n '2,/^# --- sourced/{/^# --- sourced/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --shell)  MODE="shell"; shift ;;
    --env)    MODE="env"; shift ;;
    --get)    [ $# -ge 2 ] || die "--get needs a variable name"; MODE="get"; GET_KEY=$2; shift 2 ;;
    --check)  CHECK=1; shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ $KOTLIN_VERSION =~ ^[0-9][0-9A-Za-z.+-]*$ ]] || die "bad KOTLIN_VERSION: $KOTLIN_VERSION"
[ -n "${JAVA_HOME:-}" ] || unset JAVA_HOME   # an empty JAVA_HOME would confuse kotlinc

# --- 1. Debian packages: JDK and JNA ----------------------------------------------------
apt_install() {   # runs apt-get update first when the lists do not know a package
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $* (or install them first)"
  export DEBIAN_FRONTEND=noninteractive
  if [ -n "$(apt-cache policy "$@" 2>/dev/null | awk '/Candidate: \(none\)/')" ] \
     || [ "$(apt-cache policy "$@" 2>/dev/null | grep -c 'Candidate:')" -lt $# ]; then
    log "apt-get update"
    apt-get update -qq || log "warning: apt-get update reported errors"
  fi
  if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    log "apt-get install $* failed; retrying after apt-get update"
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "cannot install $*"
  fi
}

pkgs=()
if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
  pkgs+=(default-jdk-headless)
fi
if [ ! -f "$JNA_JAR" ] || [ ! -e "$JNA_DISPATCH" ]; then
  pkgs+=(libjna-java libjna-jni)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  t0=$SECONDS; log "apt-get install ${pkgs[*]}"
  apt_install "${pkgs[@]}"
  log "installed in $((SECONDS - t0))s"
fi
JAVAC=$(readlink -f -- "$(command -v javac)")
JAVA_HOME=${JAVA_HOME:-${JAVAC%/bin/javac}}

# --- 2. kotlinc from the npm registry ---------------------------------------------------
KOTLIN_HOME=$KOTLIN_CACHE/kotlinc-$KOTLIN_VERSION
KOTLINC=$KOTLIN_CACHE/bin/kotlinc-$KOTLIN_VERSION
READY=$KOTLIN_HOME/.blazedb-ready

install_kotlinc() {
  local tmp tgz want have
  command -v npm >/dev/null || apt_install npm
  tmp=$(mktemp -d -p "$KOTLIN_CACHE" .dl.XXXXXX)
  # shellcheck disable=SC2064  # expand $tmp now
  trap "rm -rf -- '$tmp'" EXIT
  t0=$SECONDS; log "npm pack kotlin-compiler@$KOTLIN_VERSION (about 90 MB)"
  # A private npm cache keeps the 90 MB out of ~/.npm; npm checks the registry's integrity.
  (cd "$tmp" && npm pack --silent --cache "$tmp/npm-cache" \
      "kotlin-compiler@$KOTLIN_VERSION" >/dev/null) || die "npm pack kotlin-compiler@$KOTLIN_VERSION failed"
  tgz=$tmp/kotlin-compiler-$KOTLIN_VERSION.tgz
  [ -f "$tgz" ] || die "npm pack did not produce $tgz"
  if [ "$KOTLIN_VERSION" = "$PINNED_VERSION" ]; then
    want=$PINNED_SHA256; have=$(sha256sum -- "$tgz" | cut -d' ' -f1)
    [ "$have" = "$want" ] || die "sha256 mismatch for $tgz: $have, expected $want"
  fi
  mkdir -p "$tmp/x"
  tar -xzf "$tgz" -C "$tmp/x" --strip-components=1 --no-same-owner
  if [ ! -f "$tmp/x/lib/kotlin-compiler.jar" ] || [ ! -f "$tmp/x/bin/kotlinc" ]; then
    die "kotlin-compiler@$KOTLIN_VERSION does not look like a kotlinc distribution"
  fi
  chmod -R u+rwX,go+rX "$tmp/x"; chmod 755 "$tmp/x"/bin/*
  rm -rf -- "$KOTLIN_HOME"; mv -- "$tmp/x" "$KOTLIN_HOME"
  rm -rf -- "$tmp"; trap - EXIT
  log "kotlinc unpacked to $KOTLIN_HOME in $((SECONDS - t0))s"
}

write_wrapper() {
  mkdir -p "$KOTLIN_CACHE/bin"
  cat >"$KOTLINC.tmp" <<EOF
#!/bin/sh
# kotlinc $KOTLIN_VERSION wrapper written by BlazeDB's scripts/setup-kotlin.sh
: "\${JAVA_OPTS:=$KOTLINC_JAVA_OPTS}"
export JAVA_OPTS
exec bash '$KOTLIN_HOME/bin/kotlinc' "\$@"
EOF
  chmod 755 "$KOTLINC.tmp"; mv -- "$KOTLINC.tmp" "$KOTLINC"
}

kotlin_ok() {
  [ -f "$READY" ] && [ -f "$KOTLIN_HOME/lib/kotlin-compiler.jar" ] \
    && grep -qF -- "JAVA_OPTS:=$KOTLINC_JAVA_OPTS}" "$KOTLINC" 2>/dev/null
}
if ! kotlin_ok; then                        # warm path needs no lock, so no write access
  mkdir -p "$KOTLIN_CACHE"
  exec 9>"$KOTLIN_CACHE/.lock"
  flock 9                                   # one installer at a time per cache
  if [ ! -f "$READY" ] || [ ! -f "$KOTLIN_HOME/lib/kotlin-compiler.jar" ]; then
    install_kotlinc
    write_wrapper
    ver=$("$KOTLINC" -version 2>&1 | grep -o 'kotlinc-jvm [^ ]*' || true)
    [ "$ver" = "kotlinc-jvm $KOTLIN_VERSION" ] || die "kotlinc does not run: ${ver:-no version output}"
    echo "$ver" >"$READY"
    log "$ver ready"
  elif ! kotlin_ok; then
    write_wrapper                           # wrapper missing, or KOTLINC_JAVA_OPTS changed
  fi
  exec 9>&-
fi

KOTLIN_STDLIB_JAR=$KOTLIN_HOME/lib/kotlin-stdlib.jar
KOTLIN_TEST_JAR=$KOTLIN_HOME/lib/kotlin-test.jar
KOTLINX_COROUTINES_JAR=$KOTLIN_HOME/lib/kotlinx-coroutines-core-jvm.jar
for f in "$KOTLIN_STDLIB_JAR" "$KOTLIN_TEST_JAR" "$KOTLINX_COROUTINES_JAR" "$JNA_JAR"; do
  [ -f "$f" ] || die "missing $f"
done

# --- 3. optional smoke test ---------------------------------------------------------------
if [ "$CHECK" = 1 ]; then
  d=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf -- '$d'" EXIT
  cat >"$d/Main.kt" <<'EOF'
import com.sun.jna.Native
import com.sun.jna.Library

interface CLib : Library { fun getpid(): Int }

fun main() {
    val pid = Native.load("c", CLib::class.java).getpid()
    check(pid > 0) { "getpid() via JNA returned $pid" }
    println("kotlin ${KotlinVersion.CURRENT} + JNA ${Native.VERSION}: getpid()=$pid")
}
EOF
  t0=$SECONDS
  "$KOTLINC" -nowarn -cp "$JNA_JAR" "$d/Main.kt" -d "$d/main.jar" >&2
  java -cp "$d/main.jar:$JNA_JAR:$KOTLIN_STDLIB_JAR" MainKt >&2
  log "smoke test passed in $((SECONDS - t0))s"
fi

# --- 4. output ------------------------------------------------------------------------------
KEYS=(KOTLIN_HOME KOTLINC KOTLIN_VERSION KOTLIN_STDLIB_JAR KOTLIN_TEST_JAR
      KOTLINX_COROUTINES_JAR JNA_JAR JAVA_HOME)
case "$MODE" in
  env)   for k in "${KEYS[@]}"; do printf '%s=%s\n' "$k" "${!k}"; done ;;
  shell) for k in "${KEYS[@]}"; do printf 'export %s=%q\n' "$k" "${!k}"; done ;;
  get)
    for k in "${KEYS[@]}"; do
      if [ "$k" = "$GET_KEY" ]; then printf '%s\n' "${!k}"; exit 0; fi
    done
    die "unknown key $GET_KEY (one of: ${KEYS[*]})" ;;
esac
