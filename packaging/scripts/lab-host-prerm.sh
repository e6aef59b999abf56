#!/bin/sh
# cis490-lab-host prerm: on removal, remember which units were enabled (a
# reinstall enables them again), then stop and disable them; the
# credentials (/etc/cis490) and the checkpoints stay.
set -e
[ "$1" = remove ] || exit 0
units="cis490-shipper.service cis490-doctor-check.timer cis490-autoupdate.timer cis490-cert-fetch.timer"
mkdir -p /var/lib/cis490-lab-host
: > /var/lib/cis490-lab-host/was-enabled
for u in $units; do
  if systemctl --quiet is-enabled "$u" 2>/dev/null; then echo "$u" >> /var/lib/cis490-lab-host/was-enabled; fi
done
if [ -d /run/systemd/system ]; then systemctl stop $units >/dev/null 2>&1 || true; fi
systemctl disable $units >/dev/null 2>&1 || true
