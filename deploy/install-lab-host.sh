#!/bin/sh
# install-lab-host.sh: one run sets a lab host up — the binary, its
# enrollment, the shipper, the sleep/shutdown hook and the three host timers (doctor-check, autoupdate, cert-fetch).
# Idempotent: a second run changes nothing it does not have to.
#
#   install-lab-host.sh --receiver https://receiver.lab:8443 [--host NAME]
#                       [--token-file FILE]   (default: standard input)
#                       [--binary ./cis490] [--root DIR] [--dry-run] [--no-start]
#
# --root installs into DIR instead of / (for tests and images); --dry-run
# says what it would do; --no-start installs and enables but starts nothing
# (and runs no systemctl), for images and containers without systemd.
set -eu

receiver="" host="" token_file="-" binary="" root="" dry=0 start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --receiver) receiver="$2"; shift 2 ;;
    --host) host="$2"; shift 2 ;;
    --token-file) token_file="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install-lab-host.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$receiver" ] || { echo "install-lab-host.sh: give --receiver https://host:port" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
[ -n "$binary" ] || binary=$(command -v cis490 || echo "$here/../cis490")
[ -x "$binary" ] || { echo "install-lab-host.sh: no cis490 binary at $binary; give --binary PATH" >&2; exit 2; }

run() {
  if [ "$dry" = 1 ]; then echo "would: $*"; else "$@"; fi
}
# put SRC DST MODE: install a file only when it differs.
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return 0; fi
  run install -D -m "$3" "$1" "$2"
  changed=1
}
changed=0
etc="$root/etc/cis490" bin="$root/var/lib/cis490/bin"
units="$root/etc/systemd/system" hook="$root/usr/lib/systemd/system-sleep/cis490"

# The binary: a version folder behind bin/current, and the packaged path
# a link through it (so autoupdate and a package manager never fight).
# Not on the receiver's own machine: /var/lib/cis490 is its user's data
# there, and a binary root runs must not sit where another user can swap
# it; the receiver's binary serves both (install-receiver.sh updates it,
# and autoupdate says so).
if [ -f "$etc/receiver.toml" ]; then
  echo "install-lab-host.sh: this machine is the receiver: the lab host uses its binary (/usr/local/bin/cis490)"
elif [ -d "$root/var/lib/cis490" ] && [ "$(stat -c %u "$root/var/lib/cis490")" != "$(id -u)" ] && [ "$(stat -c %u "$root/var/lib/cis490")" != 0 ]; then
  echo "install-lab-host.sh: $root/var/lib/cis490 belongs to $(stat -c %U "$root/var/lib/cis490"), not root: binaries root runs cannot live where another user could swap them; give it to root (chown root: $root/var/lib/cis490) or install the receiver here first" >&2
  exit 1
else
  version=$("$binary" version | awk 'NR==1 {print $2}')
  put "$binary" "$bin/$version/cis490" 0755
  if [ "$(readlink "$bin/current" 2>/dev/null)" != "$version" ] && [ ! -L "$bin/current" ]; then
    run ln -sfn "$version" "$bin/current"; changed=1
  fi
  if [ "$(readlink "$root/usr/local/bin/cis490" 2>/dev/null)" != "/var/lib/cis490/bin/current/cis490" ]; then
    run mkdir -p "$root/usr/local/bin"
    run ln -sfn /var/lib/cis490/bin/current/cis490 "$root/usr/local/bin/cis490"; changed=1
  fi
fi

# The shipper's user: unprivileged, reads the logs through group adm and
# the systemd journal through group systemd-journal (the units add both), and alone besides root reads this host's secrets:
# /etc/cis490 is setgid to its group, so every key and token written there
# (0640: enroll, cert-fetch) belongs to that group.
ship_user=cis490-shipper
if [ -z "$root" ] && ! id "$ship_user" >/dev/null 2>&1; then
  run useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$ship_user"; changed=1
fi
if [ ! -d "$etc" ]; then run mkdir -p "$etc"; changed=1; fi
if [ -z "$root" ] && [ "$(stat -c '%G %a' "$etc" 2>/dev/null)" != "$ship_user 2755" ]; then
  run chgrp "$ship_user" "$etc"; run chmod 2755 "$etc"; changed=1
fi

# Enrollment, once: credentials already here are kept.
if [ ! -f "$etc/host.crt" ]; then
  set -- --receiver "$receiver" --dir "$etc" --token-file "$token_file"
  [ -n "$host" ] && set -- "$@" --host "$host"
  run "$binary" enroll "$@"
  changed=1
fi

# Secrets from before (a host set up by hand, or an older install) join
# the group too.
if [ -z "$root" ]; then
  for f in "$etc/host.key" "$etc/token"; do
    if [ -f "$f" ] && [ "$(stat -c '%G %a' "$f")" != "$ship_user 640" ]; then
      run chgrp "$ship_user" "$f"; run chmod 0640 "$f"; changed=1
    fi
  done
fi

# Units and the sleep hook.
for u in cis490-shipper.service cis490-doctor-check.service cis490-doctor-check.timer \
         cis490-autoupdate.service cis490-autoupdate.timer cis490-cert-fetch.service cis490-cert-fetch.timer \
         cis490-notify-failure@.service; do
  put "$here/systemd/$u" "$units/$u" 0644
done
put "$here/system-sleep/cis490" "$hook" 0755

enable() { # enable without systemctl: the wants link, as systemctl makes it
  target="$units/$2.wants/$1"
  if [ ! -L "$target" ]; then
    run mkdir -p "$units/$2.wants"
    run ln -sfn "../$1" "$target"
    changed=1
  fi
}
enable cis490-shipper.service multi-user.target
for t in cis490-doctor-check.timer cis490-autoupdate.timer cis490-cert-fetch.timer; do enable "$t" timers.target; done

if [ "$start" = 1 ] && [ -z "$root" ]; then
  run systemctl daemon-reload
  run systemctl restart cis490-shipper.service
  for t in cis490-doctor-check.timer cis490-autoupdate.timer cis490-cert-fetch.timer; do run systemctl start "$t"; done
fi
if [ "$changed" = 0 ]; then echo "install-lab-host.sh: nothing to change"; else echo "install-lab-host.sh: installed"; fi
