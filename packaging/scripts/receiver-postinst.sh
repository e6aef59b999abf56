#!/bin/sh
# cis490-receiver postinst: the receiver's user and data folder, the fleet
# CA on first install, then the receiver and the detector's timer started.
set -e
[ "$1" = configure ] || [ "$1" = 1 ] || [ "$1" = 2 ] || exit 0
if ! id cis490 >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/cis490 --no-create-home --shell /usr/sbin/nologin cis490
fi
install -d -m 0751 /var/lib/cis490
# A lab host installed here first kept autoupdate's binaries in
# /var/lib/cis490/bin, about to become the receiver's user's folder: they
# go, and this package's binary serves both.
if [ -d /var/lib/cis490/bin ]; then
  rm -rf /var/lib/cis490/bin
  echo "cis490-receiver: the lab host on this machine now runs the receiver's /usr/bin/cis490 (updated with this package)"
fi
if [ ! -f /var/lib/cis490/ca/ca.key ]; then
  # The server certificate names this machine as hosts will reach it: its
  # names and addresses (edit server_names and run ca init in a fresh
  # data folder to choose others).
  set -- --server-name localhost
  for n in $(hostname 2>/dev/null) $(hostname -f 2>/dev/null) $(hostname -I 2>/dev/null); do
    case "$n" in *%*) continue ;; esac # a link-local address with a zone
    set -- "$@" --server-name "$n"
  done
  /usr/bin/cis490 ca init --config /etc/cis490/receiver.toml "$@"
fi
chown cis490:cis490 /var/lib/cis490
chown -R cis490:cis490 /var/lib/cis490/ca
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable cis490-receiver.service cis490-fleet-health.timer >/dev/null 2>&1
  systemctl restart cis490-receiver.service
  systemctl start cis490-fleet-health.timer
fi
