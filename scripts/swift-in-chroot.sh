#!/usr/bin/env bash
# swift-in-chroot.sh - run a command with Debian trixie's Swift 6 toolchain
# (`swiftlang` 6.0.3, which needs glibc >= 2.38) on a Debian 12 (bookworm) host,
# inside a cached Debian trixie chroot. Used by BlazeDB's Swift binding tests.
#
# Usage (as root):
#   scripts/swift-in-chroot.sh [OPTIONS] [--] CMD [ARG...]
#   scripts/swift-in-chroot.sh --setup-only
#
# Options:
#   -b, --bind SRC[:DST[:ro]]  bind-mount host directory SRC at DST in the chroot.
#                              DST defaults to SRC, so absolute paths (SwiftPM's
#                              .build/, diagnostics) are the same inside and out.
#                              Append :ro for a read-only bind. Repeatable.
#   -w, --workdir DIR          working directory inside the chroot
#                              (default: DST of the first --bind, else /).
#   -e, --env VAR              pass host environment variable VAR through. Repeatable.
#   -u, --user UID[:GID]       run CMD as this user (default root); HOME=/tmp/home-UID.
#   -r, --root DIR             chroot location (default $SWIFT_CHROOT, else
#                              /var/cache/blazedb/swift-trixie).
#       --setup-only           create/refresh the chroot if needed, run nothing.
#       --rebuild              delete the cached chroot first and build a new one.
#   -q, --quiet                no progress messages (errors are still printed).
#   -h, --help                 show this help.
#
# Environment:
#   SWIFT_CHROOT               chroot location (see --root).
#   DEBIAN_MIRROR              Debian archive for debootstrap/apt in the chroot
#                              (default: the host's own Debian archive from /etc/apt).
#   SWIFT_CHROOT_EXTRA_PKGS    extra trixie packages, e.g. "git" for SwiftPM remote
#                              dependencies. Changing it re-runs apt-get on the cached chroot.
#
# Examples:
#   scripts/swift-in-chroot.sh --setup-only              # pre-warm (e.g. while cargo builds)
#   scripts/swift-in-chroot.sh swift --version
#   scripts/swift-in-chroot.sh -b "$PWD/bindings/swift" -- swift test
#
# First use: installs debootstrap on the host if missing, debootstraps a minbase trixie
# (~30 s) and apt-installs swiftlang + libc6-dev (~1 min, ~530 MB download); the
# finished chroot takes about 2.7 GB. Later runs reuse it (about 1-2 s of overhead).
# All mounts (/proc, /sys, /dev, the binds) are made in a private mount namespace
# (unshare -m), so they vanish with the process even on SIGKILL and the host never
# sees them; an EXIT trap also unmounts them (the only cleanup if unshare is missing).
# Exit status: that of CMD; 2 for usage or setup errors.
set -euo pipefail

ROOT=${SWIFT_CHROOT:-/var/cache/blazedb/swift-trixie}
SUITE=trixie
# libc6-dev is only a Recommends of swiftlang, but without it nothing links (no crt1.o,
# no glibc headers); ca-certificates is for SwiftPM https dependencies.
read -r -a PKGS <<<"swiftlang libc6-dev ca-certificates ${SWIFT_CHROOT_EXTRA_PKGS:-}"
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
STAMP=.blazedb-swift-ready      # inside ROOT: "pkgs: ..." and the swift version
MIN_FREE_MB=3500                # needed for a fresh chroot (2.7 GB + the .deb cache)

BINDS=() PASSENV=() WORKDIR="" USERSPEC="" SETUP_ONLY=0 REBUILD=0 QUIET=0 INNER=0
ORIG_ARGS=("$@")

log()   { [ "$QUIET" = 1 ] || printf '[swift-in-chroot %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die()   { QUIET=0; log "ERROR: $*"; exit 2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit "${1:-0}"; }
need_arg() { [ $# -ge 2 ] || die "option $1 needs an argument"; }

while [ $# -gt 0 ]; do
  case "$1" in
    -b|--bind)    need_arg "$@"; BINDS+=("$2"); shift 2 ;;
    -w|--workdir) need_arg "$@"; WORKDIR=$2; shift 2 ;;
    -e|--env)     need_arg "$@"; PASSENV+=("$2"); shift 2 ;;
    -u|--user)    need_arg "$@"; USERSPEC=$2; shift 2 ;;
    -r|--root)    need_arg "$@"; ROOT=$2; shift 2 ;;
    --setup-only) SETUP_ONLY=1; shift ;;
    --rebuild)    REBUILD=1; shift ;;
    -q|--quiet)   QUIET=1; shift ;;
    --__inner)    INNER=1; shift ;;            # internal: already in our own mount namespace
    -h|--help)    usage 0 ;;
    --)           shift; break ;;
    -*)           die "unknown option $1 (see --help)" ;;
    *)            break ;;
  esac
done
CMD=("$@")
if [ ${#CMD[@]} -eq 0 ] && [ "$SETUP_ONLY" = 0 ]; then usage 2 >&2; fi
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, mount and chroot need it)"

ROOT=$(realpath -m -- "$ROOT")
case "$ROOT" in
  /|/bin|/boot|/dev|/etc|/home|/lib|/lib64|/opt|/proc|/root|/run|/sbin|/srv|/sys|/tmp|/usr|/var|/var/cache|/var/lib|/work)
    die "refusing to use $ROOT as the chroot" ;;
esac

# Re-exec ourselves in a private mount namespace: every mount below is then invisible to
# the host and is torn down by the kernel when the last process in it exits.
if [ "$INNER" = 0 ] && [ -z "${SWIFT_CHROOT_NO_UNSHARE:-}" ] && command -v unshare >/dev/null \
   && unshare --mount --propagation private true 2>/dev/null; then
  exec unshare --mount --propagation private -- "$BASH" "$(realpath -- "${BASH_SOURCE[0]}")" \
    --__inner "${ORIG_ARGS[@]}"
fi

# ---------------------------------------------------------------------------------------
# Mount bookkeeping and cleanup
# ---------------------------------------------------------------------------------------
MOUNTED=()
# shellcheck disable=SC2317  # only reached through the EXIT trap
cleanup() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount -R "${MOUNTED[i]}" 2>/dev/null || umount -R -l "${MOUNTED[i]}" 2>/dev/null \
      || log "warning: could not unmount ${MOUNTED[i]}"
  done
  MOUNTED=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Mount points at or under $ROOT, as this process sees them.
mounts_under() {
  awk -v r="$ROOT" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo
}
do_mount() { mount "$@"; MOUNTED+=("${!#}"); }   # the last argument is the mount point

SYS_MOUNTED=0
mount_system() {
  [ "$SYS_MOUNTED" = 1 ] && return 0
  do_mount -t proc proc "$ROOT/proc"
  do_mount -t sysfs sysfs "$ROOT/sys" 2>/dev/null || do_mount --rbind /sys "$ROOT/sys"
  mount --make-rslave "$ROOT/sys" 2>/dev/null || true
  do_mount --rbind /dev "$ROOT/dev"
  mount --make-rslave "$ROOT/dev"   # an unmount below here must never reach the host's /dev
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  SYS_MOUNTED=1
}

safe_wipe_root() {
  local m
  m=$(mounts_under)
  [ -z "$m" ] || die "refusing to delete $ROOT while mounted: $(tr '\n' ' ' <<<"$m")"
  rm -rf --one-file-system -- "$ROOT"
}

# ---------------------------------------------------------------------------------------
# Host side: debootstrap and the Debian archive to use
# ---------------------------------------------------------------------------------------
host_apt_install() {   # apt-get install on the host; runs apt-get update when needed
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$(apt-cache policy "$@" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"')" ]; then
    log "apt-get update (host)"
    apt-get update -qq || log "warning: apt-get update reported errors"
  fi
  if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    log "apt-get install $* failed; retrying after apt-get update"
    apt-get update -qq || true
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "cannot install $*"
  fi
}

# First Debian archive URI configured on the host (deb822 *.sources or one-line *.list),
# skipping security and ports archives; falls back to deb.debian.org.
host_debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" \
          | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1) || true
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f" \
          | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1) || true
    [ -n "$uri" ] && { echo "${uri%/}"; return; }
  done
  echo http://deb.debian.org/debian
}

# ---------------------------------------------------------------------------------------
# The chroot
# ---------------------------------------------------------------------------------------
in_chroot() {
  chroot "$ROOT" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

want_stamp() { echo "pkgs: ${PKGS[*]}"; }
chroot_ready() { [ -f "$ROOT/$STAMP" ] && [ "$(head -n 1 "$ROOT/$STAMP")" = "$(want_stamp)" ]; }

ensure_chroot() {
  local t0 mirror free_mb
  mkdir -p -- "$(dirname -- "$ROOT")"
  # $ROOT.lock: held shared while a command runs in the chroot (and by --setup-only when
  # nothing is to be done), exclusive while it is created, changed or deleted. The lock
  # stays held (fd 9) until this script exits.
  exec 9>"$ROOT.lock"
  if [ "$REBUILD" = 0 ]; then
    flock -s 9
    if chroot_ready; then log "using cached chroot $ROOT ($(sed -n 2p "$ROOT/$STAMP"))"; return 0; fi
    flock -u 9
  fi
  if ! flock -n -x 9; then
    log "waiting for other users of $ROOT to finish"
    flock -x 9
  fi

  if [ "$REBUILD" = 1 ] && [ -e "$ROOT" ]; then
    log "--rebuild: deleting $ROOT"; safe_wipe_root
  elif chroot_ready; then                   # someone else set it up while we waited
    log "using cached chroot $ROOT ($(sed -n 2p "$ROOT/$STAMP"))"; flock -s 9; return 0
  fi

  if [ ! -f "$ROOT/.debootstrap-ok" ]; then
    if [ -e "$ROOT" ]; then                 # leftover of an interrupted run: start over
      log "removing incomplete chroot $ROOT"; safe_wipe_root
    fi
    free_mb=$(df -Pm -- "$(dirname -- "$ROOT")" | awk 'NR == 2 { print $4 }')
    [ "${free_mb:-0}" -ge "$MIN_FREE_MB" ] \
      || die "only ${free_mb} MB free under $(dirname -- "$ROOT"); a fresh chroot needs about $MIN_FREE_MB MB"
    if ! command -v debootstrap >/dev/null; then
      log "installing debootstrap on the host"
      host_apt_install debootstrap
    fi
    mirror=${DEBIAN_MIRROR:-$(host_debian_mirror)}
    local kr=()
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
      && kr=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    t0=$SECONDS
    log "debootstrap --variant=minbase $SUITE $ROOT $mirror (log: $ROOT.debootstrap.log)"
    if ! debootstrap --variant=minbase ${kr[@]+"${kr[@]}"} "$SUITE" "$ROOT" "$mirror" \
         >"$ROOT.debootstrap.log" 2>&1; then
      tail -n 30 "$ROOT.debootstrap.log" >&2
      die "debootstrap failed (full log: $ROOT.debootstrap.log)"
    fi
    # No daemons may start from package scripts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    touch "$ROOT/.debootstrap-ok"
    log "debootstrap done in $((SECONDS - t0))s"
  fi

  mount_system
  t0=$SECONDS
  log "apt-get install ${PKGS[*]} (in the chroot)"
  in_chroot apt-get update -qq
  in_chroot apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
  in_chroot apt-get clean                   # drops ~540 MB of downloaded .debs
  { want_stamp; in_chroot swift --version 2>&1 | head -n 1; } >"$ROOT/$STAMP.tmp"
  grep -q '^Swift version' "$ROOT/$STAMP.tmp" || die "swift does not run in the chroot: $(cat "$ROOT/$STAMP.tmp")"
  mv -- "$ROOT/$STAMP.tmp" "$ROOT/$STAMP"
  log "chroot ready in $((SECONDS - t0))s: $(sed -n 2p "$ROOT/$STAMP")"
  flock -s 9                                # downgrade: others may use it now
}

ensure_chroot
[ "$SETUP_ONLY" = 1 ] && exit 0

# ---------------------------------------------------------------------------------------
# Run CMD
# ---------------------------------------------------------------------------------------
mount_system
for b in ${BINDS[@]+"${BINDS[@]}"}; do
  IFS=: read -r src dst mode <<<"$b"
  dst=${dst:-$src}
  src=$(realpath -e -- "$src" 2>/dev/null) || die "bind source ${b%%:*} does not exist"
  case "$dst" in /*) ;; *) die "bind destination must be an absolute path: $dst" ;; esac
  case "${mode:-rw}" in rw|ro) ;; *) die "bind mode must be ro or rw: $b" ;; esac
  dst=$(realpath -m -- "$dst")
  [ "$dst" != / ] || die "cannot bind over / of the chroot"
  if [ -d "$src" ]; then mkdir -p -- "$ROOT$dst"; else mkdir -p -- "$(dirname -- "$ROOT$dst")"; touch -- "$ROOT$dst"; fi
  do_mount --bind "$src" "$ROOT$dst"
  [ "${mode:-rw}" = ro ] && mount -o remount,bind,ro "$ROOT$dst"
  [ -n "$WORKDIR" ] || WORKDIR=$dst
done
WORKDIR=${WORKDIR:-/}

envargs=(PATH="$CHROOT_PATH" LANG=C.UTF-8 TERM="${TERM:-dumb}")
for v in ${PASSENV[@]+"${PASSENV[@]}"}; do
  [[ $v =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad variable name for --env: $v"
  if [ -n "${!v+x}" ]; then envargs+=("$v=${!v}"); fi
done
chroot_opts=()
if [ -n "$USERSPEC" ]; then
  uid=${USERSPEC%%:*}; gid=${USERSPEC#*:}; [ "$gid" = "$USERSPEC" ] && gid=$uid
  mkdir -p -- "$ROOT/tmp/home-$uid"; chown -- "$uid:$gid" "$ROOT/tmp/home-$uid"
  chroot_opts+=(--userspec="$uid:$gid"); envargs+=(HOME="/tmp/home-$uid")
else
  envargs+=(HOME=/root)
fi

log "run in $ROOT (cwd $WORKDIR): ${CMD[*]}"
rc=0
# shellcheck disable=SC2016  # $1/$@ are expanded by the inner sh, on purpose
chroot ${chroot_opts[@]+"${chroot_opts[@]}"} "$ROOT" /usr/bin/env -i "${envargs[@]}" \
  /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$WORKDIR" "${CMD[@]}" || rc=$?
exit "$rc"
