"""Export a scan as CSV with python-nmap (usage: HOSTS PORTS ARGUMENTS)."""

import sys

import nmap

hosts, ports, arguments = sys.argv[1:4]
nm = nmap.PortScanner()
nm.scan(hosts=hosts, ports=ports, arguments=arguments)
sys.stdout.write(nm.csv())
