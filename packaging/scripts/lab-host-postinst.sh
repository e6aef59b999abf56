#!/bin/sh
# cis490-lab-host postinst: the shipper's user (unprivileged, reads the
# logs through adm), /etc/cis490 setgid to its group, the binary behind
# the link autoupdate manages, and the units: enabled on first install
# (also in an image being built), started where systemd runs. Until the
# host is enrolled (cis490 enroll) they are skipped, not failing. An
# upgrade leaves what the admin enabled or disabled alone.
set -e
[ "$1" = configure ] || exit 0
# Which units to enable and start: all on a first install; after a removal
# (dpkg kept its state, so $2 names the old version) those the prerm found
# enabled; on an upgrade none, since the admin's choices stand and a
# running shipper is restarted.
units="cis490-shipper.service cis490-doctor-check.timer cis490-autoupdate.timer cis490-cert-fetch.timer"
state=/var/lib/cis490-lab-host/was-enabled
mode=upgrade enable=""
if [ -z "${2:-}" ]; then
  mode=install enable=$units
elif [ -f "$state" ]; then
  mode=install enable=$(tr '\n' ' ' < "$state")
fi
u=cis490-shipper
if ! id "$u" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$u"
fi
install -d -m 2755 -g "$u" /etc/cis490
for f in /etc/cis490/host.key /etc/cis490/token; do
  if [ -f "$f" ]; then chgrp "$u" "$f"; chmod 0640 "$f"; fi
done
packaged=/usr/lib/cis490-lab-host/cis490
version=$("$packaged" version | awk 'NR==1 {print $2}')
if [ -e /usr/bin/cis490 ] && [ ! -L /usr/bin/cis490 ]; then
  # The receiver's machine: its binary serves the lab host too.
  echo "cis490-lab-host: this machine is the receiver: the lab host runs its /usr/bin/cis490"
elif [ -d /var/lib/cis490 ] && [ "$(stat -c %u /var/lib/cis490)" != 0 ]; then
  # Someone else's folder (a receiver's data): binaries root runs must not
  # sit where another user could swap them. The packaged binary serves.
  echo "cis490-lab-host: /var/lib/cis490 belongs to $(stat -c %U /var/lib/cis490), so autoupdate keeps no binaries there; running $packaged"
  ln -sfn "$packaged" /usr/bin/cis490
else
  store=/var/lib/cis490/bin
  install -d -m 0755 /var/lib/cis490 "$store/$version"
  install -m 0755 "$packaged" "$store/$version/cis490"
  # The link moves forward only: autoupdate may be ahead of the package.
  cur=$(readlink "$store/current" 2>/dev/null || true)
  if [ -z "$cur" ] || [ "$(printf '%s\n%s\n' "$cur" "$version" | sort -V | tail -1)" = "$version" ]; then
    ln -sfn "$version" "$store/current.new" && mv -T "$store/current.new" "$store/current"
  fi
  ln -sfn /var/lib/cis490/bin/current/cis490 /usr/bin/cis490
fi
if [ -n "$enable" ]; then
  systemctl enable $enable >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  timers=""
  for x in $enable; do case "$x" in *.timer) timers="$timers $x" ;; esac; done
  if [ -n "$timers" ]; then systemctl start $timers; fi
  if [ -f /etc/cis490/lab-host.toml ]; then
    if [ $mode = upgrade ]; then
      systemctl try-restart cis490-shipper.service
    else
      case " $enable " in *" cis490-shipper.service "*) systemctl restart cis490-shipper.service ;; esac
    fi
  else
    echo "cis490-lab-host: enroll this host to start shipping: cis490 enroll --receiver https://RECEIVER:8443 --host NAME < token; systemctl start cis490-shipper"
  fi
fi
# Only now: a postinst that failed above runs again (dpkg --configure)
# with the same state.
rm -rf /var/lib/cis490-lab-host
