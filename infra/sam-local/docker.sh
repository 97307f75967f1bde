#!/usr/bin/env bash
# Make a Docker daemon answer: install Debian's docker.io (root + apt) and start dockerd in the
# background when none runs (no systemd here). Exit 3, saying why, when that is not possible.
set -euo pipefail

if docker info >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "sam-local: no Docker daemon answers and not root (cannot install or start one)" >&2; exit 3
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "sam-local: installing docker.io with apt"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; } \
    || { echo "sam-local: apt could not install docker.io" >&2; exit 3; }
fi
if ! pgrep -x dockerd >/dev/null; then
  echo "sam-local: starting dockerd (log: /var/log/dockerd.log)"
  setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
fi
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "sam-local: dockerd did not answer within 60 s (see /var/log/dockerd.log)" >&2
exit 3
