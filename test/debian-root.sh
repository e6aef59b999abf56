#!/bin/sh
# debian-root.sh DIR: a minimal Debian bookworm with systemd in DIR, for the
# tests that boot a real systemd in systemd-nspawn (test/integration). Made
# once (a minute or two, ~240 MB) and reused: DIR/.complete marks a root
# that finished, and the tests boot it with --volatile=overlay, so it stays
# untouched. .ci/run makes it before the tests; a test makes it if missing.
# Needs root and debootstrap (apt-get install debootstrap).
set -eu
[ $# -eq 1 ] || { echo "usage: debian-root.sh DIR" >&2; exit 2; }
root=$1
[ -f "$root/.complete" ] && exit 0
command -v debootstrap >/dev/null || { echo "debian-root.sh: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
# The mirror apt uses here (deb.debian.org unless configured otherwise).
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
rm -rf "$root"
mkdir -p "$(dirname "$root")"
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
  { tail -n 20 "$root.log" >&2; echo "debian-root.sh: debootstrap failed (log: $root.log)" >&2; exit 1; }
touch "$root/.complete"
