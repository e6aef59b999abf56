#!/bin/sh
# cis490-lab-host prerm: stop and disable the units on removal; the
# credentials (/etc/cis490) and the checkpoints stay.
set -e
case "$1" in remove|purge) ;; *) exit 0 ;; esac
if [ -d /run/systemd/system ]; then
  systemctl disable --now cis490-shipper.service cis490-doctor-check.timer cis490-autoupdate.timer cis490-cert-fetch.timer >/dev/null 2>&1 || true
fi
