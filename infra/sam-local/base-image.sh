#!/usr/bin/env bash
# Build the stand-in for Lambda's python3.12 x86_64 base image when it is missing or its inputs
# changed (no image registry is reachable, and sam local invoke --skip-pull-image only needs an image
# with that name): debootstrap bookworm from this machine's apt mirror, docker import, this CPython
# 3.12 as /var/lang, awslambdaric as /var/runtime. Usage: base-image.sh PYTHON3.12 STATE_DIR
set -euo pipefail
python=$1
state=$2
here=$(cd "$(dirname "$0")" && pwd)
image=public.ecr.aws/lambda/python:3.12-x86_64
ric=awslambdaric==4.2.2
packages=ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libuuid1,libreadline8,libncursesw6,libexpat1

prefix=$("$python" -c 'import sys; print(sys.prefix)')
inputs=$({ cat "$here/Dockerfile" "$here/bootstrap" "$0"; "$python" -VV; echo "$prefix $ric $packages"; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{ index .Config.Labels "landing.inputs" }}' "$image" 2>/dev/null)" = "$inputs" ]; then
  exit 0
fi
echo "sam-local: building $image (inputs $inputs)"

rootfs=landing/bookworm-minbase:$(echo "$packages" | sha256sum | cut -c1-12)
if ! docker image inspect "$rootfs" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  # The Debian mirror apt already uses (snapshot, proxy or deb.debian.org).
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ' || true)
  root=$(mktemp -d "${TMPDIR:-/tmp}/landing-rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include="$packages" bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import - "$rootfs" >/dev/null
fi

context=$state/base-image
rm -rf "$context" && mkdir -p "$context/lang" "$context/runtime"
cp "$here/Dockerfile" "$context/"
# The interpreter and standard library only: Lambda's site-packages are not the artifact's business.
tar -C "$prefix" -c --exclude=lib/python3.12/test --exclude=lib/python3.12/site-packages \
  --exclude='lib/python3.12/idlelib' --exclude='lib/python3.12/tkinter' --exclude='*.a' bin lib \
  | tar -C "$context/lang" -x
mkdir -p "$context/lang/lib/python3.12/site-packages"
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install -q --no-compile --disable-pip-version-check \
  --target "$context/runtime" "$ric"
cp "$here/bootstrap" "$context/runtime/bootstrap"
docker build -q --build-arg "ROOTFS=$rootfs" --label "landing.inputs=$inputs" -t "$image" "$context" >/dev/null
# SAM layers its emulator on top as ...:3.12-rapid-x86_64; drop the old one so it is rebuilt on this base.
docker image rm -f public.ecr.aws/lambda/python:3.12-rapid-x86_64 >/dev/null 2>&1 || true
rm -rf "$context"
echo "sam-local: built $image"
