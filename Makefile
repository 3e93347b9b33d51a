# portlens — `make help` lists the targets.
# Every target runs in the project's virtualenv: the active one ($VIRTUAL_ENV), else .venv, which
# scripts/env.sh makes from BASE_PYTHON (python3: pyenv's or the system one) and fills with pip. pip
# never runs in the base interpreter, which may be an externally-managed (PEP 668) system Python.
VENV ?= $(or $(VIRTUAL_ENV),$(CURDIR)/.venv)
PYTHON := $(VENV)/bin/python
DIST ?= dist
# The wheel's platform tag: manylinux2014 (glibc >= 2.17), which maturin checks the extension against. zig
# (ziglang from PyPI) links it against that old glibc on any host; `make dist ZIG=` links with the host's cc,
# which on Debian 12 needs MANYLINUX=manylinux_2_34.
MANYLINUX ?= manylinux2014
ZIG ?= --zig
export VENV
# `make test` prints each stage's time (scripts/stage.sh)
ifndef STAGE_TIMES
STAGE_TIMES := $(shell mktemp -u /tmp/portlens-stages.XXXXXX)
endif
export STAGE_TIMES
STAGE := scripts/stage.sh
SUBMAKE := $(MAKE) --no-print-directory
.DEFAULT_GOAL := help
.PHONY: help env dev install test test-unit test-rust test-fuzz test-python test-dist dist lint bench demo clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

env: ## the virtualenv and a Rust toolchain >= the crate's (installs python3-venv, rustc-web when missing)
	scripts/env.sh all

install: env ## build the extension (release) and install portlens with its test tools into the venv
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'

dev: install ## build in place for development

test: ## everything CI runs: system packages, venv, build, cargo tests, fuzzing, pytest on the lab, wheels
	@$(STAGE) start
	@$(STAGE) sysdeps sh -c 'scripts/sysdeps.sh test && scripts/env.sh all'
	@$(STAGE) install $(SUBMAKE) install
	@$(STAGE) test-rust $(SUBMAKE) test-rust
	@$(STAGE) test-fuzz $(SUBMAKE) test-fuzz
	@$(STAGE) test-python $(SUBMAKE) test-python
	@$(STAGE) dist $(SUBMAKE) test-dist
	@$(STAGE) summary

test-rust: ## engine tests (cargo), inside a private network namespace
	unshare --net sh -c 'ip link set lo up && cargo test --locked --quiet'

test-fuzz: ## a short libFuzzer run of every service-parser target (10 s each; fuzz/run.sh)
	fuzz/run.sh 10

test-python: ## pytest: tests/unit, then tests/lab against the lab (needs root for network namespaces)
	$(PYTHON) -m pytest

test-unit: ## the unit tests only (tests/unit): no root, no lab, no network, seconds
	$(PYTHON) -m pytest tests/unit

lint: ## rustfmt, clippy -D warnings, ruff, mypy, stubtest, import-linter (the package's layers)
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(PYTHON) -m ruff check python tests lab bench
	$(PYTHON) -m mypy
	$(PYTHON) -m mypy.stubtest portlens._core
	$(VENV)/bin/lint-imports

bench: ## side-by-side benchmarks with nmap, masscan and RustScan, and Dask vs local, on the lab (writes bench/*.md)
	scripts/sysdeps.sh bench
	$(SUBMAKE) install
	$(PYTHON) -m bench.run
	$(PYTHON) -m bench.udp
	$(PYTHON) -m bench.services
	$(PYTHON) -m bench.dask_overhead
	$(PYTHON) -m bench.defences
	$(PYTHON) -m bench.syn

demo: ## build a small lab in namespaces, scan and assess it, write demo-out/report.html
	scripts/sysdeps.sh demo
	scripts/env.sh all
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[demo]'
	$(PYTHON) -m lab.demo

dist: env ## an abi3 wheel (CPython >= 3.10, manylinux tag, checked by auditwheel) and an sdist in dist/
	$(PYTHON) -m pip install -q 'maturin>=1.9,<2' 'auditwheel>=6' $(if $(ZIG),'ziglang>=0.13')
	rm -f $(DIST)/portlens-*.whl $(DIST)/portlens-*.tar.gz
	# --sdist: the sdist first, then the wheel built from it (so the sdist is complete); cargo's target
	# folder is the project's, not one in the unpacked sdist
	PATH="$(VENV)/bin:$$PATH" CARGO_TARGET_DIR="$${CARGO_TARGET_DIR:-$(CURDIR)/target}" \
	  $(PYTHON) -m maturin build --release --sdist $(ZIG) --compatibility $(MANYLINUX) --out $(DIST)
	$(PYTHON) -m auditwheel show $(DIST)/portlens-*.whl

test-dist: ## build the wheel and sdist, install the wheel in a fresh venv without Rust, scan a lab host with it, rebuild from the sdist
	$(PYTHON) scripts/test_dist.py --dist $(DIST)

clean: ## remove build output
	rm -rf target dist demo-out bench/out fuzz/target
