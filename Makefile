# portlens — `make help` lists the targets.
PYTHON ?= python3
.DEFAULT_GOAL := help
.PHONY: help dev install test test-rust test-fuzz test-python lint bench demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## build the extension (release) and install portlens with its test tools
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'

dev: install ## build in place for development

test: ## everything CI runs: system packages, build, cargo tests, pytest on the namespace lab
	scripts/sysdeps.sh test
	$(MAKE) install
	$(MAKE) test-rust
	$(MAKE) test-fuzz
	$(MAKE) test-python

test-rust: ## engine tests (cargo), inside a private network namespace
	unshare --net sh -c 'ip link set lo up && cargo test --locked --quiet'

test-fuzz: ## a short libFuzzer run of every service-parser target (10 s each; fuzz/run.sh)
	fuzz/run.sh 10

test-python: ## pytest against the lab (needs root for network namespaces)
	$(PYTHON) -m pytest

lint: ## rustfmt, clippy -D warnings, ruff, mypy, stubtest
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(PYTHON) -m ruff check python tests lab bench
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest portlens._core

bench: ## side-by-side benchmarks with nmap and RustScan, and Dask vs local, on the lab (writes bench/*.md)
	scripts/sysdeps.sh bench
	$(MAKE) install
	$(PYTHON) -m bench.run
	$(PYTHON) -m bench.udp
	$(PYTHON) -m bench.services
	$(PYTHON) -m bench.dask_overhead

demo: ## build a small lab in namespaces, scan and assess it, write demo-out/report.html
	scripts/sysdeps.sh test
	$(MAKE) install
	$(PYTHON) -m lab.demo

clean: ## remove build output
	rm -rf target dist demo-out bench/out
