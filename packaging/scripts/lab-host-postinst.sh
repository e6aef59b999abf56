#!/bin/sh
# cis490-lab-host postinst: the shipper's user (unprivileged, reads the
# logs through adm), /etc/cis490 setgid to its group, the binary behind
# the link autoupdate manages, and the units enabled. Until the host is
# enrolled (cis490 enroll) they are skipped, not failing.
set -e
[ "$1" = configure ] || [ "$1" = 1 ] || [ "$1" = 2 ] || exit 0
u=cis490-shipper
if ! id "$u" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$u"
fi
install -d -m 2755 -g "$u" /etc/cis490
for f in /etc/cis490/host.key /etc/cis490/token; do
  if [ -f "$f" ]; then chgrp "$u" "$f"; chmod 0640 "$f"; fi
done
version=$(/usr/lib/cis490-lab-host/cis490 version | awk 'NR==1 {print $2}')
if [ -f /etc/cis490/receiver.toml ]; then
  # The receiver's machine: its binary serves the lab host too.
  echo "cis490-lab-host: this machine is the receiver: the lab host runs its /usr/bin/cis490"
else
  store=/var/lib/cis490/bin
  install -d -m 0755 /var/lib/cis490 "$store/$version"
  install -m 0755 /usr/lib/cis490-lab-host/cis490 "$store/$version/cis490"
  # The link moves forward only: autoupdate may be ahead of the package.
  cur=$(readlink "$store/current" 2>/dev/null || true)
  if [ -z "$cur" ] || [ "$(printf '%s\n%s\n' "$cur" "$version" | sort -V | tail -1)" = "$version" ]; then
    ln -sfn "$version" "$store/current.new" && mv -T "$store/current.new" "$store/current"
  fi
  ln -sfn /var/lib/cis490/bin/current/cis490 /usr/bin/cis490
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable cis490-shipper.service cis490-doctor-check.timer cis490-autoupdate.timer cis490-cert-fetch.timer >/dev/null 2>&1
  systemctl start cis490-doctor-check.timer cis490-autoupdate.timer cis490-cert-fetch.timer
  if [ -f /etc/cis490/lab-host.toml ]; then
    systemctl restart cis490-shipper.service
  else
    echo "cis490-lab-host: enroll this host to start shipping: cis490 enroll --receiver https://RECEIVER:8443 --host NAME < token; systemctl start cis490-shipper"
  fi
fi
