#!/bin/sh
# cis490-lab-host postrm: the link /usr/bin/cis490 the postinst made goes
# (a receiver's own binary there stays); data and credentials stay.
set -e
case "$1" in remove|purge) ;; *) exit 0 ;; esac
if [ -L /usr/bin/cis490 ]; then
  case "$(readlink /usr/bin/cis490)" in
    /var/lib/cis490/bin/*|/usr/lib/cis490-lab-host/*) rm -f /usr/bin/cis490 ;;
  esac
fi
[ "$1" = purge ] && rm -rf /var/lib/cis490-lab-host
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
