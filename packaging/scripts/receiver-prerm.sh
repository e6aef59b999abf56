#!/bin/sh
# cis490-receiver prerm: stop and disable the units on removal; the data
# (/var/lib/cis490: logs, index, CA) and /etc/cis490 stay.
set -e
case "$1" in remove|purge) ;; *) exit 0 ;; esac
if [ -d /run/systemd/system ]; then
  systemctl disable --now cis490-fleet-health.timer cis490-receiver.service >/dev/null 2>&1 || true
fi
