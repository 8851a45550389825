# crowdact — every target creates and fills .venv itself (only Python 3.11 and make needed).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
ROLE ?= participant
SUB ?=
STAMP := $(VENV)/.installed

.PHONY: help venv run test test-unit test-functional test-e2e lint typecheck token clean bench

help:
	@echo "make run      start the local stack (API on http://127.0.0.1:$(PORT)) with demo data"
	@echo "make test     lint, type-check and run the whole test suite"
	@echo "make token ROLE=admin|participant SUB=...   print a local JWT"

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) is required"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m chalicelib.local --port $(PORT)

token: $(STAMP)
	@$(BIN)/python scripts/mint_token.py --role $(ROLE) $(if $(SUB),--sub $(SUB))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy app.py chalicelib scripts tests bench

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit -q

test-functional: $(STAMP)
	$(BIN)/pytest tests/functional -q

test-e2e: $(STAMP)
	$(BIN)/pytest tests/e2e -q

test: lint typecheck $(STAMP)
	$(BIN)/pytest -q -n 2 tests/unit tests/functional
	$(BIN)/pytest -q tests/e2e

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
