"""Drop-in interfaces of existing Python security tooling, on portlens's public API.

``from portlens.compat import nmap`` gives python-nmap's ``PortScanner``, ``PortScannerAsync`` and
``PortScannerYield`` without an nmap binary (see `portlens.compat.nmap`).
"""
