# Hookline: `make run` starts the whole local stack; `make test` runs the whole suite.
# Both install what they need first (dev/local/install.sh; cached after the first run).

SHELL := /bin/bash
CACHE ?= $(or $(HOOKLINE_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hookline)
PYTHON := $(CACHE)/venv/bin/python
PHASE := dev/local/phase.sh
CARGO := cargo

.PHONY: run test bench faults install lint clean fuzz

## Start broker, ClickHouse, ingest, consumers and Prometheus; stop them all on Ctrl-C.
run: install
	$(CARGO) build --release --locked -p hookline-ingest -p hookline-consumers -p hookline-report -p hookline-dev --bins
	./target/release/hookline-stack

## Everything: lint, unit and integration tests, end-to-end tests, deployment checks.
test: install
	@$(PHASE) build $(CARGO) build --workspace --all-targets --locked
	@$(PHASE) lint $(MAKE) --no-print-directory lint
	@$(PHASE) unit $(CARGO) test --workspace --exclude hookline-tests --locked
	@$(PHASE) local-infra $(PYTHON) -m unittest discover -s dev/local -p 'test_*.py'
	@$(PHASE) deploy-check deploy/check.sh
	@$(PHASE) e2e $(CARGO) test -p hookline-tests --locked
	@echo "==> make test: all phases passed"

## Ingest, consumers and dashboard queries against their floors, measured in one run; writes BENCHMARKS.md.
bench: install
	$(CARGO) build --release --locked --workspace --bins
	./target/release/hookline-bench

## Every fault scenario for minutes, and a load run; writes RELIABILITY.md (see README).
faults: install
	$(CARGO) build --release --locked --workspace --bins
	./target/release/hookline-faults

install:
	@$(PHASE) install dev/local/install.sh

## Long fuzzing run: every target of fuzz/ under libFuzzer for FUZZ_SECONDS each (nightly Rust).
fuzz:
	fuzz/run.sh

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean:
	$(CARGO) clean
	rm -rf .hookline
