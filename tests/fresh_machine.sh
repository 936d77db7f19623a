#!/usr/bin/env bash
# The README's two commands on a fresh, minimal Debian, as a new user meets them: a root made
# by debootstrap (minbase) with only git, make, python3, python3-venv, python3-pip,
# ca-certificates, curl and sudo, entered with chroot; the host's registry configuration
# (apt's, pip's, their CAs) and DNS copied in, nothing else. The repository is cloned at HEAD, MNIST, Lasagne
# and libgpuarray copied beside it as ../shared. Needs root and debootstrap; takes 15-30 min.
#   make test-fresh DISTRO=bookworm|trixie     (Debian 12 | 13)
# Prints each step's wall time, the run's ten epoch lines and the tests' closing line; the
# whole log is in $ROOT.log. The root is kept, unmounted, for a look inside (rm -rf it after).
set -euo pipefail
DISTRO=${1:?which Debian: bookworm or trixie}
REPO=$(cd "$(dirname "$0")/.." && pwd)
SHARED=$(cd "$REPO/.." && pwd)/shared
ROOT=${FRESH_ROOT:-/var/tmp/vae-legacy-fresh-$DISTRO}
LOG=$ROOT.log
[ "$(id -u)" = 0 ] || { echo "fresh_machine: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "fresh_machine: apt-get install debootstrap" >&2; exit 2; }
[ -e "$ROOT" ] && { echo "fresh_machine: $ROOT exists; remove it first" >&2; exit 2; }

step() {
  local name=$1 start=$SECONDS
  shift
  echo "fresh_machine: $name ..."
  if "$@" >>"$LOG" 2>&1; then
    echo "fresh_machine: $name: done in $((SECONDS - start)) s"
  else
    echo "fresh_machine: $name: FAILED after $((SECONDS - start)) s; last lines of $LOG:"
    tail -15 "$LOG"
    return 1
  fi
}
inside() { chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 bash -lc "$*"; }
# The host's /dev, /proc and /sys are mounted inside: unmounted (with what is below them)
# whatever happens, so that removing the root afterwards never reaches the host's.
unmount() { for m in dev/pts dev proc sys; do umount -R "$ROOT/$m" 2>/dev/null || true; done; }
trap unmount EXIT

: >"$LOG"
step "debootstrap $DISTRO (minbase)" debootstrap --variant=minbase "$DISTRO" "$ROOT" \
  http://deb.debian.org/debian
# The registries as this host reaches them: DNS, apt's settings, the CAs its TLS is
# checked against (update-ca-certificates adds them once ca-certificates is in), pip's cert.
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/apt/apt.conf.d/99artifact-registry "$ROOT/etc/apt/apt.conf.d/" 2>/dev/null || true
mkdir -p "$ROOT/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOT/etc/pip.conf"
mount -t proc proc "$ROOT/proc" && mount -t sysfs sysfs "$ROOT/sys" &&
  mount --bind /dev "$ROOT/dev" && mount --bind /dev/pts "$ROOT/dev/pts"
step "the user's packages" inside "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq git make python3 python3-venv python3-pip ca-certificates curl sudo \
  && update-ca-certificates"
inside "python3 -V" | sed 's/^/fresh_machine: /'
git clone -q "$REPO" "$ROOT/work/vae-legacy"
mkdir -p "$ROOT/work/shared" && cp -r "$SHARED"/{mnist,lasagne-2016,libgpuarray-0.7.6} "$ROOT/work/shared/"
step "make run" inside "cd /work/vae-legacy && MNIST_SOURCE=/work/shared/mnist make run"
grep -a "^Epoch" "$LOG" | sed 's/^/fresh_machine:   /'
step "bash .ci/run (make test)" inside "cd /work/vae-legacy && bash .ci/run"
grep -a -E "^=+ .*(passed|failed).* =+$" "$LOG" | tail -1 | sed 's/^/fresh_machine: /'
