"""List the open ports of some hosts, as python-nmap's README does (usage: HOSTS PORTS ARGUMENTS)."""

import sys

import nmap

hosts, ports, arguments = sys.argv[1:4]
nm = nmap.PortScanner()
nm.scan(hosts, ports, arguments)
print(nm.command_line())
print(nm.scaninfo())
for host in nm.all_hosts():
    print("----------------------------------------------------")
    print(f"Host : {host} ({nm[host].hostname()})")
    print(f"State : {nm[host].state()}")
    for proto in nm[host].all_protocols():
        print("----------")
        print(f"Protocol : {proto}")
        for port in sorted(nm[host][proto].keys()):
            info = nm[host][proto][port]
            if nm[host].has_tcp(port) and info["state"] == "open":
                print(f"port : {port}\tstate : {info['state']}\treason : {info['reason']}")
stats = nm.scanstats()
print(f"hosts up {stats['uphosts']}, down {stats['downhosts']}, total {stats['totalhosts']}")
