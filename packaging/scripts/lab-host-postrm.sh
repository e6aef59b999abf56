#!/bin/sh
# cis490-lab-host postrm: the link /usr/bin/cis490 the postinst made goes
# (a receiver's own binary there stays); data and credentials stay.
set -e
case "$1" in remove|purge|0) ;; *) exit 0 ;; esac
if [ -L /usr/bin/cis490 ] && [ "$(readlink /usr/bin/cis490)" = /var/lib/cis490/bin/current/cis490 ]; then
  rm -f /usr/bin/cis490
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
