#!/bin/sh
# cis490-receiver postrm: systemd forgets the removed units; the data
# (/var/lib/cis490: logs, index, CA) and /etc/cis490 stay.
set -e
case "$1" in remove|purge) ;; *) exit 0 ;; esac
if [ "$1" = purge ]; then
  rm -rf /var/lib/cis490-receiver
  rm -f /etc/systemd/system/cis490-receiver.service.d/data-dir.conf /etc/systemd/system/cis490-fleet-health.service.d/data-dir.conf
  rmdir /etc/systemd/system/cis490-receiver.service.d /etc/systemd/system/cis490-fleet-health.service.d 2>/dev/null || true
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ -x /usr/lib/cis490-lab-host/cis490 ] && [ ! -e /usr/bin/cis490 ]; then
  # The lab host on this machine ran the receiver's binary: its own
  # packaged one (root's, never updated by autoupdate here) takes over.
  ln -sfn /usr/lib/cis490-lab-host/cis490 /usr/bin/cis490
  echo "cis490-receiver: the lab host here now runs /usr/lib/cis490-lab-host/cis490"
fi
