#!/bin/sh
# build.sh: the Debian packages cis490-receiver and cis490-lab-host, with
# nfpm pinned in tools/go.mod (fetched once into the module cache; .ci/run
# fetches it before the tests).
#
#   packaging/build.sh [--version 0.3.0] [--arch amd64|arm64|armhf] [--out DIR]
#
# The units are deploy/systemd's with the binary at /usr/bin/cis490 (a
# package does not install into /usr/local).
set -eu
version=0.0.0 arch=amd64 out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --arch) arch="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

case "$arch" in
  amd64) goarch=amd64 ;; arm64) goarch=arm64 ;; armhf) goarch=arm ;;
  *) echo "build.sh: --arch is amd64, arm64 or armhf" >&2; exit 2 ;;
esac
commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo "")
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=7 go build -trimpath -buildvcs=false \
  -ldflags "-X github.com/cis490/cis490/internal/buildinfo.version=$version -X github.com/cis490/cis490/internal/buildinfo.commit=$commit" \
  -o "$stage/cis490" ./cmd/cis490)

mkdir -p "$stage/units" "$stage/sleep"
for f in "$repo"/deploy/systemd/*.service "$repo"/deploy/systemd/*.timer; do
  sed 's|/usr/local/bin/cis490|/usr/bin/cis490|g' "$f" > "$stage/units/$(basename "$f")"
done
# Both packages need the failure hook, and no file may be in two packages:
# the lab host's units call theirs cis490-host-notify-failure@.
for u in cis490-autoupdate.service cis490-cert-fetch.service; do
  sed -i 's|cis490-notify-failure@|cis490-host-notify-failure@|' "$stage/units/$u"
done
cp "$stage/units/cis490-notify-failure@.service" "$stage/units/cis490-host-notify-failure@.service"
sed 's|/usr/local/bin/cis490|/usr/bin/cis490|g' "$repo/deploy/system-sleep/cis490" > "$stage/sleep/cis490"

unit() { # unit NAME: an nfpm contents entry for a unit file
  printf '  - src: %s/units/%s\n    dst: /usr/lib/systemd/system/%s\n    file_info: {mode: 0644}\n' "$stage" "$1" "$1"
}

{
  cat <<YAML
name: cis490-receiver
arch: $arch
version: $version
maintainer: cis490 maintainers <cis490@localhost>
description: |
  cis490 receiver: stores every byte the lab hosts ship, exactly once,
  indexes every request, and runs the fleet-health detector every 5 minutes.
license: MIT
depends: [passwd]
contents:
  - src: $stage/cis490
    dst: /usr/bin/cis490
    file_info: {mode: 0755}
  - src: $repo/deploy/receiver.toml
    dst: /etc/cis490/receiver.toml
    type: config|noreplace
    file_info: {mode: 0644}
YAML
  for u in cis490-receiver.service cis490-fleet-health.service cis490-fleet-health.timer cis490-notify-failure@.service; do unit "$u"; done
  cat <<YAML
scripts:
  postinstall: $here/scripts/receiver-postinst.sh
  preremove: $here/scripts/receiver-prerm.sh
  postremove: $here/scripts/receiver-postrm.sh
YAML
} > "$stage/receiver.yaml"

{
  cat <<YAML
name: cis490-lab-host
arch: $arch
version: $version
maintainer: cis490 maintainers <cis490@localhost>
description: |
  cis490 lab host: ships this machine's logs to the fleet's receiver, and
  keeps itself well (daily doctor report, certificate renewal, signed
  autoupdate). Enroll once: cis490 enroll --receiver URL --host NAME < token
license: MIT
depends: [passwd]
contents:
  - src: $stage/cis490
    dst: /usr/lib/cis490-lab-host/cis490
    file_info: {mode: 0755}
  - src: $repo/deploy/lab-host.toml
    dst: /usr/share/doc/cis490-lab-host/examples/lab-host.toml
    file_info: {mode: 0644}
  - src: $stage/sleep/cis490
    dst: /usr/lib/systemd/system-sleep/cis490
    file_info: {mode: 0755}
YAML
  for u in cis490-shipper.service cis490-doctor-check.service cis490-doctor-check.timer cis490-autoupdate.service \
           cis490-autoupdate.timer cis490-cert-fetch.service cis490-cert-fetch.timer cis490-host-notify-failure@.service; do unit "$u"; done
  cat <<YAML
scripts:
  postinstall: $here/scripts/lab-host-postinst.sh
  preremove: $here/scripts/lab-host-prerm.sh
  postremove: $here/scripts/lab-host-postrm.sh
YAML
} > "$stage/lab-host.yaml"

for p in receiver lab-host; do
  (cd "$repo" && GOFLAGS= go tool -modfile=tools/go.mod nfpm package --config "$stage/$p.yaml" --packager deb --target "$out/" >/dev/null)
done
ls "$out"/cis490-*_"${version}"_"${arch}".deb
