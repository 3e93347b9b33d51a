#!/usr/bin/env bash
# Install the Debian packages the tests, the demo and the benchmark need, if any is missing.
# Usage: scripts/sysdeps.sh [test|demo|bench]
# (Python's venv and the Rust toolchain: scripts/env.sh.)
set -euo pipefail
# The lab's UDP part runs these servers itself, inside its namespaces (chrony replaces systemd-timesyncd).
need=(iproute2 nftables procps dnsmasq-base snmpd chrony memcached tftpd-hpa)
# The lab's relay part (high RTT, loss: the kernel has no netem) compiles lab/relay.c when it is built.
need+=(gcc libc6-dev)
# The lab's svc part (lab/svc/) runs these real servers in its namespace, each next to a hardened twin
# (tests/lab/test_services.py and bench/services.py).
case "${1:-test}" in test | bench | demo) need+=(vsftpd redis-server samba xrdp openssh-server openssh-client
  inetutils-telnetd nginx-light postgresql mariadb-server mosquitto tigervnc-standalone-server tigervnc-tools openssl) ;;
esac
# The lab's breadth part (lab/breadth.py): BIND 9 beside dnsmasq, SMB2/3-only Samba, snmpd, MariaDB by host.
case "${1:-test}" in test | bench) need+=(bind9 samba snmpd mariadb-server dnsmasq-base) ;; esac
# The HTML report is opened in headless Chromium by the tests (Selenium drives it through chromium-driver).
[ "${1:-test}" = test ] && need+=(chromium chromium-driver fonts-dejavu-core)
# tests/unit/test_pkgversion.py checks portlens's rpm version ordering against rpm's own (rpm.vercmp)
[ "${1:-test}" = test ] && need+=(rpm)
# fuzz/run.sh: libfuzzer-sys compiles libFuzzer (C++)
[ "${1:-test}" = test ] && need+=(g++)
# bench/syn.py's peers: masscan (raw frames through libpcap) beside nmap -sS
[ "${1:-test}" = bench ] && need+=(nmap masscan time)
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sysdeps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No service may start in the root namespace: without a policy-rc.d, add one for the install only.
  rc_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    rc_policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$rc_policy" && chmod 755 "$rc_policy"
    trap 'rm -f "$rc_policy"' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
