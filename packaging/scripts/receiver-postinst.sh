#!/bin/sh
# cis490-receiver postinst: the receiver's user and data folder, the fleet
# CA when there is none (never replaced), then the receiver and the
# detector's timer: enabled on first install (also in an image being
# built, without a running systemd), started or restarted where systemd
# runs; an upgrade leaves what the admin enabled or disabled alone.
set -e
[ "$1" = configure ] || exit 0
# Which units to enable and start: all on a first install; after a removal
# (dpkg kept the conffile, so $2 names the old version) those the prerm
# found enabled; on an upgrade none, since the admin's choices stand and
# the running units are restarted.
units="cis490-receiver.service cis490-fleet-health.timer"
state=/var/lib/cis490-receiver/was-enabled
mode=upgrade enable=""
if [ -z "${2:-}" ]; then
  mode=install enable=$units
elif [ -f "$state" ]; then
  mode=install enable=$(tr '\n' ' ' < "$state")
fi
if ! id cis490 >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/cis490 --no-create-home --shell /usr/sbin/nologin cis490
fi
install -d -m 0751 /var/lib/cis490
# A lab host installed here first kept autoupdate's binaries in
# /var/lib/cis490/bin, about to become the receiver's user's folder: they
# go, and every link into them now points at this package's binary (root
# must never run a file that user could write).
if [ -d /var/lib/cis490/bin ]; then
  rm -rf /var/lib/cis490/bin
  echo "cis490-receiver: the lab host on this machine now runs the receiver's /usr/bin/cis490 (updated with this package)"
fi
if [ -L /usr/local/bin/cis490 ]; then
  case "$(readlink /usr/local/bin/cis490)" in /var/lib/cis490/*) ln -sfn /usr/bin/cis490 /usr/local/bin/cis490 ;; esac
fi
# The server certificate names this machine as hosts will reach it: the
# server_names of receiver.toml, and this machine's names and addresses
# (only those that are valid names: one that is not would stop ca init).
set --
for n in $(hostname 2>/dev/null) $(hostname -f 2>/dev/null) $(hostname -I 2>/dev/null); do
  case "$n" in ""|*[!A-Za-z0-9.:-]*|[-.]*|*[-.]|*..*|*.-*|*-.*) continue ;; esac
  set -- "$@" --server-name "$n"
done
# data_dir as receiver.toml says (relative to /etc/cis490), when the admin
# moved it: the receiver and the detector may write there too (a drop-in
# each; their units name only /var/lib/cis490).
data=$(sed -n "s/^[[:space:]]*data_dir[[:space:]]*=[[:space:]]*[\"']\([^\"']*\)[\"'].*/\1/p" /etc/cis490/receiver.toml 2>/dev/null | tail -n 1)
case "$data" in
  "") data=/var/lib/cis490 ;;
  /*) ;;
  *) data=/etc/cis490/$data ;;
esac
data=${data%/}
if [ "$data" != /var/lib/cis490 ]; then
  install -d -m 0751 "$data"
  # Quoted, and % doubled: systemd splits the list at spaces and expands
  # specifiers.
  rw=$(printf '%s' "$data" | sed 's/%/%%/g')
  for u in cis490-receiver.service cis490-fleet-health.service; do
    install -d /etc/systemd/system/$u.d
    printf '# Written by the cis490-receiver package: data_dir in /etc/cis490/receiver.toml.\n[Service]\nReadWritePaths="%s"\n' "$rw" > /etc/systemd/system/$u.d/data-dir.conf
  done
  echo "cis490-receiver: data_dir is $data (from /etc/cis490/receiver.toml); the receiver and the detector may write there"
else
  rm -f /etc/systemd/system/cis490-receiver.service.d/data-dir.conf /etc/systemd/system/cis490-fleet-health.service.d/data-dir.conf
fi
/usr/bin/cis490 ca init --if-missing --config /etc/cis490/receiver.toml "$@"
chown cis490:cis490 /var/lib/cis490 "$data"
if [ -d "$data/ca" ]; then chown -R cis490:cis490 "$data/ca"; fi
if [ -n "$enable" ]; then
  systemctl enable $enable >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ $mode = install ]; then
    if [ -n "$enable" ]; then systemctl start $enable; fi
  else
    systemctl try-restart cis490-receiver.service
    # A lab host on this machine runs this binary too: onto the new one.
    systemctl try-restart cis490-shipper.service >/dev/null 2>&1 || true
  fi
fi
# Only now: a postinst that failed above runs again (dpkg --configure)
# with the same state.
rm -rf /var/lib/cis490-receiver
