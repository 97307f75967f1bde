# Two commands on a fresh clone: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# AWS SAM CLI (with cfn-lint) in its own venv: its pins must not fight the project's.
SAM_VENV ?= .venv-sam
SAM_VERSION ?= 1.170.0
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-stamp
# sam build checks that the Lambda runtime's Python (3.12) is on PATH: pyenv's if present, else python3.12.
PY312 ?= $(shell PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || command -v python3.12)
# checkov (the IaC policy scanner) in its own venv too: its pins are many and strict.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
SAM_SOURCES := functions/requirements.txt $(shell find functions/landing -type f \( -name '*.py' -o -name '*.mako' \) -not -path '*/__pycache__/*')
export SAM_CLI_TELEMETRY := 0

PORT ?= 3000
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup run serve browser node page demo test fuzz unit lint typecheck templates sam-local test-driver bench bench-scale mutate soak test-under-load clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## run: embedded Postgres + local S3/SQS, the end-to-end demo, then (in a terminal) the upload page
run: setup
	$(BIN)/landing demo
	@if [ -t 0 ]; then \
	  $(BIN)/landing serve --port $(PORT); \
	else \
	  echo; echo "Upload page and local API: make serve, then open http://127.0.0.1:$(PORT)/"; \
	fi

## serve: the uploads API and the upload page at http://127.0.0.1:$(PORT)/ until Ctrl+C
serve: setup
	$(BIN)/landing serve --port $(PORT)

## browser: Debian's Chromium for the browser tests (their Playwright driver comes with the dev extra)
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "could not install chromium: the browser tests will skip (in CI they fail)"; \
	else \
	  echo "no $(CHROMIUM), and no root apt-get to install it: the browser tests will skip (in CI they fail)"; \
	fi

## page: rebuild the upload page (local/landing_local/static/page.js, page.css) from page/: npm ci installs
## exactly page/package-lock.json (integrity-checked, no install scripts), esbuild bundles it. The bundle is
## committed, so make run and make test need no node; tests/unit/test_page_bundle.py checks it is current.
page:
	cd page && npm ci --ignore-scripts --no-audit --no-fund && node build.mjs

## node: node and npm for tests/unit/test_page_bundle.py's rebuild (the machine's, else Debian's, as root)
node:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's nodejs and npm to rebuild the upload page in a test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } \
	    || echo "could not install nodejs and npm: the page rebuild test will skip (in CI it fails)"; \
	else \
	  echo "no node/npm, and no root apt-get to install them: the page rebuild test will skip (in CI it fails)"; \
	fi

## test: lint, types, template checks, the whole suite
test: setup lint typecheck templates checkov browser node
	$(BIN)/python -m pytest -q; status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

## fuzz: Schemathesis against landing serve with many more examples per operation (FUZZ_EXAMPLES, 300) and
## any seed (FUZZ_SEED; the config's fixed one by default); before a release, not in `make test` (its short pass is)
FUZZ_EXAMPLES ?= 300
fuzz: setup
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) $(BIN)/python -m pytest -q -s -p no:randomly tests/fuzz

## mutate: break each core guard on purpose (in a copy) and check the tests catch it; minutes, not in `make test`
mutate: setup
	$(BIN)/python -m tests.mutate

## soak: EVENTS (1,000,000) S3 events through the real handler by WORKERS (4) processes, faults injected
## while it runs, checked against a model; prints one line (details in .local/soak/report.json). Not in
## `make test`, which runs a 3,000-event version (tests/soak/test_soak_smoke.py). See docs/reliability.md.
EVENTS ?= 1000000
WORKERS ?= 4
soak: setup
	$(BIN)/python -m tests.soak.run --events $(EVENTS) --workers $(WORKERS)

## test-under-load: make test RUNS times in a row (10) while every core is kept busy; an hour or more, not in `make test`
RUNS ?= 10
test-under-load: setup
	$(BIN)/python -m tests.load --runs $(RUNS)

## bench: the full benchmark (a few minutes; DATABASE_URL picks the server), prints the markdown table
bench: setup
	$(BIN)/python -m tests.perf.bench

## bench-scale: the journal growth curve (slow: ~40 minutes at full size here; not part of make test).
## Full size: 10 M objects, journal at 0 / 10 M / 50 M rows (~20 GB); BENCH_SCALE_ARGS scales it down,
## e.g. BENCH_SCALE_ARGS="--objects 1000000 --levels 0,1000000,5000000"
bench-scale: setup
	$(BIN)/python -m tests.perf.bench_scale $(BENCH_SCALE_ARGS)

lint: setup
	$(BIN)/ruff check functions local tests
	$(BIN)/ruff format --check functions local tests

typecheck: setup
	$(BIN)/mypy

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q --upgrade pip
	$(SAM_VENV)/bin/python -m pip install -q 'aws-sam-cli==$(SAM_VERSION)'
	touch $(SAM_STAMP)

.aws-sam/.validated: template.yaml infra/database.yaml $(SAM_STAMP)
	$(SAM) validate --lint -t template.yaml
	$(SAM) validate --lint -t infra/database.yaml
	mkdir -p .aws-sam && touch $@

# The Lambda artifact for python3.12/arm64, rebuilt only when the template or the package changes.
# Lambda's /var/task is read-only: without shipped bytecode every cold start compiles every module, so
# the build is compiled once, as unchecked-hash pycs (zip mtimes cannot invalidate them).
.aws-sam/.built: template.yaml infra/database.yaml $(SAM_SOURCES) $(SAM_STAMP)
	@test -n "$(PY312)" || { echo "sam build needs python3.12 (pyenv install 3.12.1)"; exit 1; }
	PATH="$(dir $(PY312)):$$PATH" $(SAM) build --cached
	$(PY312) -m compileall -q -j0 --invalidation-mode unchecked-hash .aws-sam/build > /dev/null
	touch $@

## templates: cfn-lint both templates and build the Lambda artifact (tests/infra inspect it)
templates: .aws-sam/.validated .aws-sam/.built

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q 'checkov==$(CHECKOV_VERSION)'
	touch $(CHECKOV_STAMP)

# Every finding is fixed or skipped in the resource's Metadata with its reason (docs/security.md).
# checkov exits 0 when it cannot parse a template, so a parse error fails here explicitly.
.aws-sam/.checkov: template.yaml infra/database.yaml $(CHECKOV_STAMP)
	@out=$$($(CHECKOV_VENV)/bin/checkov --framework cloudformation -f template.yaml -f infra/database.yaml \
	  --compact --quiet --skip-download 2>&1); status=$$?; echo "$$out"; \
	  echo "$$out" | grep -q "Parsing errors: [1-9]" && { echo "checkov could not parse a template"; exit 1; }; \
	  exit $$status
	mkdir -p .aws-sam && touch $@

## checkov: the IaC policy scan of both templates (no finding left without a decision)
checkov: .aws-sam/.checkov

# The same artifact for x86_64, in its own directory (the arm64 one above is what tests/infra inspect):
# the stand-in base image make sam-local runs it on is x86_64 only.
SAM_LOCAL_BUILD := .aws-sam/x86_64
$(SAM_LOCAL_BUILD)/.built: template.yaml infra/database.yaml $(SAM_SOURCES) $(SAM_STAMP)
	@test -n "$(PY312)" || { echo "sam build needs python3.12 (pyenv install 3.12.1)"; exit 1; }
	PATH="$(dir $(PY312)):$$PATH" $(SAM) build --cached --build-dir $(SAM_LOCAL_BUILD)/build \
	  --cache-dir $(SAM_LOCAL_BUILD)/cache --parameter-overrides Architecture=x86_64
	$(PY312) -m compileall -q -j0 --invalidation-mode unchecked-hash $(SAM_LOCAL_BUILD)/build > /dev/null
	touch $@

## sam-local: every sample event through sam local invoke in Docker, checked on database rows (docs/sam-local.md)
sam-local: setup $(SAM_LOCAL_BUILD)/.built
	infra/sam-local/docker.sh
	infra/sam-local/base-image.sh "$(PY312)" .local/sam-local
	SAM="$(abspath $(SAM))" SAM_LOCAL_BUILD_DIR=$(SAM_LOCAL_BUILD)/build \
	  $(BIN)/python -m pytest -q -p no:cacheprovider tests/samlocal $(SAM_LOCAL_PYTEST_ARGS)

## test-driver: the round-trip and fault tests against the newest pg8000 release (db/pgwire.py's one
## private call into the driver is checked the day a release ships); CI runs it after make test
DRIVER_DIR := .local/newest-driver
test-driver: setup
	rm -rf $(DRIVER_DIR)
	$(BIN)/python -m pip install -q --upgrade --target $(DRIVER_DIR) pg8000
	PYTHONPATH=$(abspath $(DRIVER_DIR)) $(BIN)/python -c 'import pg8000, sys; print("pg8000", pg8000.__version__, "from", pg8000.__file__); sys.exit(not pg8000.__file__.startswith("$(abspath $(DRIVER_DIR))"))'
	PYTHONPATH=$(abspath $(DRIVER_DIR)) $(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_round_trips.py tests/faults

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .local .aws-sam .pytest_cache .mypy_cache .ruff_cache
