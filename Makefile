# The README's two set-up commands: `make demo` and `make test`. Each creates .venv/ when missing.
# torch is pinned through constraints.txt: a looser spec would pull a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DATA := data/synthetic

.PHONY: install test test-slow test-integration lint demo clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

# Two processes, one test file each (--dist loadfile), so a module's expensive fixture runs once.
# PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)

# Lint + every test but the end-to-end ones marked slow (about 6 minutes on 2 cores).
test: lint
	$(BIN)/python -m pytest -q -m "not slow and not integration" $(XDIST)

# The end-to-end tests marked slow: real `genrebench` processes trained, interrupted with signals, resumed,
# benchmarked and run as parallel workers (about 6 minutes on 2 cores). CI runs them after `make test`.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow and not integration" $(XDIST)

# Real PostgreSQL + mlflow server + worker processes (about 2 minutes); skipped with the reason when the machine
# has no PostgreSQL server (Debian: apt-get install postgresql). CI runs it after `make test`.
test-integration: $(STAMP)
	$(BIN)/python -m pytest -q -s -rs -m integration --timeout 900 tests/integration

demo: $(STAMP)
	$(BIN)/genrebench data synth --out $(DEMO_DATA) --tracks-per-genre 12 --seconds 15
	$(BIN)/genrebench data inspect $(DEMO_DATA)
	$(BIN)/genrebench run demo --data $(DEMO_DATA) --seeds 3
	$(BIN)/genrebench report demo
	@echo "Runs are in mlruns/ (MLflow). Compare them: .venv/bin/genrebench ui  ->  http://127.0.0.1:5000"

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache

# Every genrebench command shown in README.md and docs/*.md must parse against the real CLI (parsed, never run),
# and every relative link there must lead to an existing file and heading. Seconds; part of `make test` too.
.PHONY: docs-check
docs-check: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_docs.py
