#!/usr/bin/env bash
# Install the Debian packages the tests, the demo and the benchmark need, if any is missing.
# Usage: scripts/sysdeps.sh [test|bench]
set -euo pipefail
need=(iproute2 nftables procps)
[ "${1:-test}" = bench ] && need+=(nmap time)
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sysdeps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
