"""Side-by-side benchmarks against nmap and RustScan on the lab."""
