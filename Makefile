# Two commands set everything up on a fresh Debian machine with Python 3.11: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: serve test lint format install install-test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP) $@

install: $(STAMP)
install-test: $(TEST_STAMP)

serve: $(STAMP)
	$(VENV)/bin/eventyard serve

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

format: $(TEST_STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

test: lint
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Every benchmark of bench/ in turn, with its standard settings (about 10 minutes; see bench/README.md).
bench: $(TEST_STAMP)
	$(PY) bench/bench_patterns.py
	$(PY) bench/put_events.py
	$(PY) bench/put_to_http.py
	$(PY) bench/bench_nodes.py

clean:
	rm -rf $(VENV) .eventyard .pytest_cache .ruff_cache .hypothesis
