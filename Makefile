# Two entry points (see README): `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PEER   := tests/smsc_peer/node_modules/.installed-stamp
export MCRM_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test test-pg system-deps install peer bench clean

## Set up, migrate, load the demo and serve the whole service on http://127.0.0.1:5000
run: install
	$(BIN)/mcrm db upgrade
	$(BIN)/mcrm demo
	$(BIN)/mcrm run

## Set up and run the whole test suite (SQLite, the SMSC peer, the browser tests)
test: install peer
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The same suite against PostgreSQL (MCRM_TEST_DATABASE_URL must point at an empty database)
test-pg: install peer
	test -n "$$MCRM_TEST_DATABASE_URL" || { echo "set MCRM_TEST_DATABASE_URL"; exit 2; }
	$(BIN)/python -m pytest $(PYTEST_ARGS)

system-deps:
	@sh scripts/system-deps.sh

install: system-deps $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

peer: $(PEER)

$(PEER): tests/smsc_peer/package.json tests/smsc_peer/package-lock.json
	npm ci --prefix tests/smsc_peer --no-audit --no-fund --omit=dev
	touch $@

bench: install peer
	$(BIN)/python bench/members.py

clean:
	rm -rf $(VENV) tests/smsc_peer/node_modules .pytest_cache
