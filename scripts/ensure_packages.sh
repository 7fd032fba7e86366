#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages snap2s3's tests and demo use, when run as
# root; otherwise prints the exact command to run and carries on (root-only
# tests then skip and say why).
# Usage: ensure_packages.sh [test|demo|bench]
set -euo pipefail
what="${1:-test}"
declare -A pkg_of=(
  [btrfs]=btrfs-progs [mkfs.btrfs]=btrfs-progs [findmnt]=util-linux [losetup]=mount [ps]=procps
  [zstd]=zstd [age]=age [age-keygen]=age [gpg]=gnupg [curl]=curl
)
if [ "$what" = test ] || [ "$what" = bench ]; then
  pkg_of+=([radosgw]=radosgw [ceph-mon]=ceph-mon [ceph-osd]=ceph-osd [ceph]=ceph-common [radosgw-admin]=radosgw)
  # CLI tests run update with the clock set back or ahead.
  pkg_of+=([faketime]=faketime)
  # The daemon test's systemd notify socket; a remote test's self-signed TLS endpoint.
  pkg_of+=([python3]=python3-minimal [openssl]=openssl [setpriv]=util-linux [script]=bsdutils)
fi
if [ "$what" = bench ]; then
  # The transfer benchmark's peers, and GNU time for their peak RSS.
  pkg_of+=([aws]=awscli [rclone]=rclone [/usr/bin/time]=time)
fi
missing=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkg_of[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" = 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "missing packages; install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  [ "$what" = test ] || exit 1
fi
