# Two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup install lint typecheck browser test-sqlite test-postgres bench bench-ingest bench-reports bench-sim bench-forecast bench-load lock clean help

help:
	@echo "make run    set up (venv, dependencies, database, reference data) and serve on :8000"
	@echo "            with live demo traffic (make run DEMO=0: without it)"
	@echo "make test   set up and run the whole suite (lint, SQLite, then PostgreSQL)"
	@echo "make bench  run the planner benchmark (installs the solvers it compares against)"
	@echo "make bench-ingest  run the GPS ingestion benchmark (needs PostgreSQL and Mosquitto)"
	@echo "make bench-reports run the reports benchmark on a synthetic year (needs PostgreSQL)"
	@echo "make bench-sim  run the scenario-lab benchmark (a simulated year, against SimPy)"
	@echo "make bench-forecast run the demand-forecasting benchmark (against seasonal naive,"
	@echo "            AutoETS and Prophet, on a synthetic Lang Son and a real history)"
	@echo "make bench-load replay a Tet-peak day against the production topology and one process"
	@echo "            (Locust; make bench-load LOAD_ARGS='--minutes 3 --start-hour 6': shorter)"

# requirements-dev.lock holds every pin of requirements.lock (the runtime) plus the test, lint,
# type-check and lock tools, pip and the build backend the editable install uses: one
# hash-checked install, then the project itself without dependencies.
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The scenario lab's hot path compiled with mypyc (borderflow/native.py says what and when it
# is used): rebuilt when the simulator's or the dispatch rules' source changed, a no-op
# otherwise; without a C compiler it says so and the plain Python modules are used.
install: $(STAMP)
	@$(BIN)/python -m borderflow.native_build

setup: install
	$(BIN)/borderflow setup --demo

# The demo traffic (simulated actors) runs unless DEMO=0: `make run DEMO=0`.
DEMO ?= 1
run: setup
	BORDERFLOW_DEMO_TRAFFIC=$(DEMO) $(BIN)/borderflow serve

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-cache  # a cache from an older tree can report removed imports

typecheck: install
	$(BIN)/mypy

# The servers the suite talks to (PostgreSQL, NATS, Mosquitto, Redis): a BORDERFLOW_TEST_*_URL
# given is used as is; else the local server on its standard port when it answers; else
# tests/services.py starts a throw-away one for the run (installing its Debian package when
# missing) and stops it afterwards. In CI (CI=true) an unreachable PostgreSQL fails the run.
# Each pass runs the tests that measure latency under a burst (marker `alone`) last, by
# themselves, so that no other test shares the two cores with them. The browser tests (marker
# `e2e`) run in the SQLite pass only: the pages' read models run on PostgreSQL in the TestClient
# tests of tests/web, and a browser adds nothing that depends on the database. The PostgreSQL
# pass also leaves out the tests that never open the database and those marked `any_database`
# (what pages show and refuse, the crawler, the documented answers: their services run on
# PostgreSQL in the API tests).
SERVICES := $(BIN)/python -m tests.services

test-sqlite: install
	$(SERVICES) --without postgres -- $(BIN)/pytest -n 2 -q -m "not alone"
	$(SERVICES) --without postgres -- $(BIN)/pytest -n 0 -q -m alone

test-postgres: install
	$(SERVICES) -- $(BIN)/pytest -n 2 -q -m "not alone and not e2e"
	$(SERVICES) -- $(BIN)/pytest -n 0 -q -m alone

# The browser tests drive Debian's Chromium (headless); install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		(echo "installing Chromium for the browser tests" && \
		 $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) \
		 apt-get install -y -qq chromium >/dev/null)

test: lint typecheck browser
	$(SERVICES) -- $(MAKE) --no-print-directory test-sqlite test-postgres

# Benchmarks (never part of make test): extra solvers pinned in requirements-bench.lock.
$(VENV)/.bench: $(STAMP) requirements-bench.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bench.lock
	touch $(VENV)/.bench

bench: $(VENV)/.bench
	$(BIN)/python bench/plan.py

bench-ingest: install
	$(BIN)/python bench/ingest.py

bench-reports: install
	$(BIN)/python bench/reports.py

bench-sim: $(VENV)/.bench
	$(BIN)/python bench/sim.py

bench-forecast: $(VENV)/.bench
	$(BIN)/python bench/forecast.py

# The peak-day load test: PostgreSQL and NATS as the test suite finds or starts them, HAProxy
# installed with apt when missing, Locust from requirements-bench.lock. About 35 minutes with
# the defaults (two replays of 14.4 minutes); LOAD_ARGS passes options (bench/load.py --help).
LOAD_ARGS ?=
bench-load: $(VENV)/.bench
	$(SERVICES) --without redis --without mqtt -- $(BIN)/python bench/load.py $(LOAD_ARGS)

# The locks, compiled from pyproject.toml with hashes by pip-tools (itself pinned in
# requirements-dev.lock): requirements.lock the runtime dependencies; requirements-dev.lock those
# plus the dev extra and the build backend, constrained by requirements.lock; requirements-bench.lock
# the runtime plus the bench extra, constrained by requirements-dev.lock, so the versions agree.
# Existing pins are kept: `make lock UPGRADE=1` moves everything to the newest releases that
# pyproject.toml allows, `make lock UPGRADE_PACKAGE=name` one package.
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	$(if $(UPGRADE),--upgrade) $(if $(UPGRADE_PACKAGE),--upgrade-package $(UPGRADE_PACKAGE))

lock: install
	$(PIP_COMPILE) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) --extra dev --all-build-deps -c requirements.lock -o requirements-dev.lock pyproject.toml
	$(PIP_COMPILE) --extra bench -c requirements-dev.lock -o requirements-bench.lock pyproject.toml

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
