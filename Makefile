# Two entry points (see README): `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PEER   := tests/smsc_peer/node_modules/.installed-stamp
export MCRM_INSTANCE_PATH ?= $(CURDIR)/instance

.PHONY: run test test-pg test-pg-local lint translations system-deps install peer bench clean

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

## The suite against a throwaway PostgreSQL server started for the run (needs the postgresql package)
test-pg-local: install peer
	sh scripts/with-postgres.sh $(MAKE) --no-print-directory test-pg

## Lint (ruff, settings in pyproject.toml) and type-check the gateway (mypy --strict)
LINT_PATHS := mcrm sms_gateway tests bench wsgi.py
lint: install
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy --strict sms_gateway

## Extract UI strings into the catalog, merge them into the Chinese translation, compile it.
## Domain errors are shown as _(error.message), so their literal messages are extracted too.
BABEL_KEYWORDS := -k _l -k lazy_gettext -k DomainError -k ValidationError -k NotFoundError -k ConflictError \
	-k InsufficientPointsError -k LoginError -k TooManyCodesError -k NotAllowedError \
	-k ConfirmationRequiredError -k TemplateError
translations: install
	$(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --sort-by-file --add-location=file \
		--project=mcrm --copyright-holder="mcrm contributors" -o mcrm/translations/messages.pot .
	test -f mcrm/translations/zh/LC_MESSAGES/messages.po \
		|| $(BIN)/pybabel init -i mcrm/translations/messages.pot -d mcrm/translations -l zh
	$(BIN)/pybabel update -i mcrm/translations/messages.pot -d mcrm/translations -l zh --ignore-obsolete
	$(BIN)/pybabel compile -d mcrm/translations --statistics

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
