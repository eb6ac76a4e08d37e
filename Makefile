# Two commands a newcomer needs: `make check` (the main job) and `make test`.
# Both bootstrap uv and the locked environment on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Never let uv try to download an interpreter: .python-version selects a local 3.12.
export UV_PYTHON_DOWNLOADS := never
# Use uv from PATH if there is one, else a private copy installed with pip.
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
SYNCED := .venv/.synced
RUN := $(UV) run --locked --no-sync

.PHONY: help install check test lint fmt bench mock clean

help:
	@echo "make install uv (unless on PATH) and the locked environment in .venv/"
	@echo "make check   the whole harness on the embedded mock (smoke, contract, conformance, load)"
	@echo "make test    lint (ruff, mypy) and run the test suite"
	@echo "make bench   run the benchmarks in bench/ and print their tables"
	@echo "make mock    start the mock on 127.0.0.1:8080 (Ctrl-C stops it)"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.8"

$(SYNCED): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --quiet
	@touch $@

install: $(SYNCED)
	@echo "Environment ready in .venv/. Put it on your PATH with: . .venv/bin/activate"

check: $(SYNCED)
	$(RUN) harness check

# The conformance matrix is hundreds of adapter runs that mostly wait on timers:
# it runs apart, on parallel workers (each with its own mock). Then the tests of
# the session's mock run again on `harness mock --workers 2`.
test: lint
	$(RUN) pytest -m "not matrix"
	$(RUN) pytest -m matrix -n 3
	HARNESS_TEST_WORKERS=2 $(RUN) pytest -q -n 2 -m "not matrix"

lint: $(SYNCED)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

fmt: $(SYNCED)
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

bench: $(SYNCED)
	$(RUN) python -m bench

mock: $(SYNCED)
	$(RUN) harness mock

clean:
	rm -rf .venv .tools .mypy_cache .ruff_cache .pytest_cache reports
