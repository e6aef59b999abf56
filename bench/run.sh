#!/bin/sh
# Builds cis490 and runs the receiver-vs-nginx benchmark on loopback.
# Usage: bench/run.sh [cis490 bench flags]   (default: --target both --runs 3 --duration 15s)
# Needs root for `apt-get install nginx` (only when nginx is missing) and
# writes its temporary data under $TMPDIR (or --dir DIR): that file system is
# the one measured. Stops by itself; takes about 6 minutes with the defaults.
set -eu
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx
fi
go build -o /tmp/cis490-bench -buildvcs=false ./cmd/cis490
[ $# -gt 0 ] || set -- --target both --runs 3 --duration 15s
exec /tmp/cis490-bench bench "$@"
