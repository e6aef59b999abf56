#!/bin/sh
# cis490-receiver prerm: on removal, remember which units were enabled (a
# reinstall enables them again), then stop and disable them; the data
# (/var/lib/cis490: logs, index, CA) and /etc/cis490 stay.
set -e
[ "$1" = remove ] || exit 0
units="cis490-receiver.service cis490-fleet-health.timer"
mkdir -p /var/lib/cis490-receiver
: > /var/lib/cis490-receiver/was-enabled
for u in $units; do
  if systemctl --quiet is-enabled "$u" 2>/dev/null; then echo "$u" >> /var/lib/cis490-receiver/was-enabled; fi
done
if [ -d /run/systemd/system ]; then systemctl stop $units >/dev/null 2>&1 || true; fi
systemctl disable $units >/dev/null 2>&1 || true
