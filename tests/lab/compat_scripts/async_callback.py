"""Scan in the background with a callback per host, as python-nmap's README does (usage: HOSTS PORTS ARGUMENTS)."""

import sys

import nmap


def callback_result(host, scan_result):
    if scan_result is None:
        print(host, "error", flush=True)
        return
    info = scan_result["scan"].get(host)
    if info is None:
        print(host, "down", scan_result["nmap"]["scanstats"]["downhosts"], flush=True)
        return
    tcp = info.get("tcp", {})
    opened = [str(port) for port in sorted(tcp) if tcp[port]["state"] == "open"]
    print(host, info["status"]["state"], ",".join(opened), flush=True)


hosts, ports, arguments = sys.argv[1:4]
nma = nmap.PortScannerAsync()
nma.scan(hosts=hosts, ports=ports, arguments=arguments, callback=callback_result)
while nma.still_scanning():
    nma.wait(2)
print("done", flush=True)
