#!/bin/sh
# install-receiver.sh: one run sets the receiver up — the binary, the user
# cis490, /etc/cis490/receiver.toml (kept if there is one), the fleet CA
# (made once), the receiver and the fleet-health detector's timer.
# Idempotent: a second run changes nothing it does not have to.
#
#   install-receiver.sh [--binary ./cis490] [--server-name NAME]... [--root DIR] [--dry-run] [--no-start]
set -eu

binary="" root="" dry=0 start=1 names=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --server-name) names="$names \"$2\","; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install-receiver.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
[ -n "$binary" ] || binary=$(command -v cis490 || echo "$here/../cis490")
[ -x "$binary" ] || { echo "install-receiver.sh: no cis490 binary at $binary; give --binary PATH" >&2; exit 2; }

run() { if [ "$dry" = 1 ]; then echo "would: $*"; else "$@"; fi; }
changed=0
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return 0; fi
  run install -D -m "$3" "$1" "$2"; changed=1
}
etc="$root/etc/cis490" data="$root/var/lib/cis490" units="$root/etc/systemd/system"

# A lab host installed here first keeps autoupdate's binaries in
# /var/lib/cis490/bin, which becomes the receiver's user's folder: those
# go, and the receiver's binary serves both (install-receiver.sh updates
# this machine from now on).
if [ -d "$data/bin" ]; then
  # The binary to install may be one of them (command -v finds the link):
  # keep a copy before they go.
  keep=$(mktemp)
  cp "$(readlink -f "$binary")" "$keep" && chmod 0755 "$keep"
  binary=$keep
  trap 'rm -f "$keep"' EXIT
  run rm -rf "$data/bin"
  # No link may point root into that folder any more.
  for l in "$root/usr/local/bin/cis490" "$root/usr/bin/cis490"; do
    if [ -L "$l" ]; then
      case "$(readlink "$l")" in /var/lib/cis490/*) run rm -f "$l" ;; esac
    fi
  done
  echo "install-receiver.sh: this lab host's autoupdate binaries removed: the receiver's binary serves both from now on"
  changed=1
fi
put "$binary" "$root/usr/local/bin/cis490" 0755
if [ -z "$root" ] && [ ! -e /usr/bin/cis490 ] && [ -e /usr/lib/cis490-lab-host/cis490 ]; then
  run ln -sfn /usr/local/bin/cis490 /usr/bin/cis490 # the packaged lab host's units run /usr/bin/cis490
fi
if [ -z "$root" ] && ! id cis490 >/dev/null 2>&1; then
  run useradd --system --home /var/lib/cis490 --shell /usr/sbin/nologin cis490; changed=1
fi
if [ ! -f "$etc/receiver.toml" ]; then
  run mkdir -p "$etc"
  if [ "$dry" = 1 ]; then echo "would: write $etc/receiver.toml"; else
    sed "s|^data_dir = .*|data_dir = \"$data\"|" "$here/receiver.toml" > "$etc/receiver.toml"
    if [ -n "$names" ]; then
      sed -i "s|^server_names = .*|server_names = [${names%,} ]|" "$etc/receiver.toml"
    fi
  fi
  changed=1
fi
# 0751: a lab host on this machine keeps its state inside (its shipper
# must pass through); nobody else may list it, and every folder inside is
# 0750 or tighter.
if [ ! -d "$data" ]; then run install -d -m 0751 "$data"; changed=1
elif [ "$(stat -c %a "$data")" != 751 ]; then run chmod 0751 "$data"; changed=1; fi
if [ ! -f "$data/ca/ca.key" ] && [ ! -f "$data/ca/ca.crt" ]; then
  run "$binary" ca init --if-missing --config "$etc/receiver.toml"; changed=1
fi
# The receiver's user owns its data folder and the CA (ca init ran as
# root), nothing else in it: a lab host's state on the same machine stays
# its own.
if [ -z "$root" ] && [ "$dry" = 0 ]; then chown cis490:cis490 "$data" && chown -R cis490:cis490 "$data/ca"; fi

for u in cis490-receiver.service cis490-fleet-health.service cis490-fleet-health.timer cis490-notify-failure@.service; do
  put "$here/systemd/$u" "$units/$u" 0644
done
enable() {
  target="$units/$2.wants/$1"
  if [ ! -L "$target" ]; then run mkdir -p "$units/$2.wants"; run ln -sfn "../$1" "$target"; changed=1; fi
}
enable cis490-receiver.service multi-user.target
enable cis490-fleet-health.timer timers.target
if [ "$start" = 1 ] && [ -z "$root" ]; then
  run systemctl daemon-reload
  run systemctl restart cis490-receiver.service
  run systemctl start cis490-fleet-health.timer
fi
if [ "$changed" = 0 ]; then echo "install-receiver.sh: nothing to change"; else echo "install-receiver.sh: installed"; fi
