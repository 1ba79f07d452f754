# The two commands a newcomer needs: `make demo` and `make test`. Both set themselves up (idempotent).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov pins an older pycep-parser than the drift test needs, so it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Azurite (the Azure Storage emulator) for the Table store tests, pinned in package-lock.json.
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint bench twin reliability clean

# `pip install -e .` puts the `breakerpanel` command in .venv/bin (pyproject.toml), usable from any directory.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "checkov>=3.2,<4"
	touch $(CHECKOV_STAMP)

# `npm ci` installs exactly the lock file (it empties node_modules first, so the stamp goes in afterwards).
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make test needs node 20+ and npm, for Azurite (the Table storage emulator)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

demo: $(STAMP)
	$(PY) -m breakerpanel demo

test: $(STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) bench/bench_rollout_polling.py
	$(PY) bench/bench_replay.py
	$(PY) bench/bench_watch_detection.py
	$(PY) bench/bench_watch_scale.py
	$(PY) bench/bench_prerequisites.py

# The rollout against every fault on every ARM/APIM call it makes, a crash after every step and a cancel in
# every phase; prints the table (tests/reliability/fault_matrix.py). About 2 minutes on 2 cores.
reliability: $(STAMP)
	$(PY) -m tests.reliability.fault_matrix --workers 2

twin: $(STAMP)
	$(PY) -m breakerpanel twin

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .twin .pytest_cache .ruff_cache
