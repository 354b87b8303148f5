# The two commands of the README: `make run` (the whole service locally) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

# Every dependency, direct or not, pinned with its hashes. requirements/dev.lock (the dev extra too) is
# what `make install` (and so `make test` and CI) installs; requirements/runtime.lock is the Dockerfile's.
DEV_LOCK := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
# The locking tool, installed into the venv by `make lock` only.
UV_VERSION := 0.13.9
# One resolution for Python 3.11 on every platform (--universal); the hashes cover every file of each
# pinned release, so the same lock installs on Linux x86_64 and arm64 (the Docker image) and on macOS.
UV_COMPILE := $(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --universal \
	--generate-hashes --custom-compile-command "make lock"

.PHONY: run test lint install lock clean-var bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The locked dependencies, then the project itself without resolving anything again; `pip check` fails if
# pyproject.toml asks for something the lock does not have (run `make lock`).
$(VENV)/.installed: pyproject.toml $(DEV_LOCK) | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check
	touch $@

# axe-core, which the browser tests put into the pages they check (tests/browser.py), at the exact version
# and integrity that package-lock.json records; installed again when package.json or the lock changes.
# The tests' browser is the system's Chromium (README: `apt-get install chromium`).
NODE_DEPS := node_modules/.installed

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(NODE_DEPS)

# Regenerate the locks after a change to the dependencies in pyproject.toml:
#   make lock
# which runs
#   uv pip compile pyproject.toml --python-version 3.11 --universal --generate-hashes --extra dev \
#       -o requirements/dev.lock
#   uv pip compile pyproject.toml --python-version 3.11 --universal --generate-hashes \
#       -c requirements/dev.lock -o requirements/runtime.lock
# uv keeps every version already in a lock that still fits; to move to newer releases deliberately,
# `make lock UPGRADE=--upgrade` (everything) or `make lock UPGRADE="--upgrade-package holidays"` (one).
# A new holidays release changes bank holidays, and so case deadlines: upgrade it on purpose, never by
# accident. The runtime lock takes its versions from the dev lock, so the image runs what the tests ran.
lock: | $(VENV)/bin/python
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) --quiet $(UPGRADE) --extra dev -o $(DEV_LOCK)
	$(UV_COMPILE) --quiet -c $(DEV_LOCK) -o $(RUNTIME_LOCK)

run: install
	$(PY) -m devstack.run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# On every core (pytest-xdist): each worker process has its own Temporal test server, mail sink and
# databases. `.venv/bin/pytest tests/test_x.py` runs a file alone, in one process.
test: lint
	$(PY) -m pytest -n auto

# How fast it is at national scale, each figure beside its reference (README, "Performance"). Starts its own
# servers on spare ports; takes a while. Not part of `make test`. `make bench BENCH="--quick"` is a smoke run.
bench: install
	$(PY) -m bench $(BENCH)

clean-var:
	rm -rf var
