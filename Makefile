# Two commands do all set-up on a fresh machine:
#   make run    the hub on SQLite with example data flowing, on http://127.0.0.1:8080
#   make test   the whole test suite, against real PostgreSQL and Mosquitto servers
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB ?= sqlite:///var/demo/causeway.db

.PHONY: run test bench clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p var/demo
	$(BIN)/causeway-hub demo --db $(DEMO_DB) --host 127.0.0.1 --port 8080

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash scripts/ensure-test-servers.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ingest.py --db postgresql
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/notices.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/agent.py

clean:
	rm -rf $(VENV) var test-artifacts
