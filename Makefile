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

# The tests and benchmarks start hundreds of hub, agent and CLI processes: byte-compile the
# project once (only what changed), so that where Python is told not to write bytecode
# (PYTHONDONTWRITEBYTECODE) each of them does not compile it all again.
COMPILE := $(BIN)/python -m compileall -q -j 0 hub agents connectors causeway_common tests bench

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash scripts/ensure-test-servers.sh
	$(COMPILE)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile --durations=15 $(PYTEST_ARGS)

# Each benchmark appends its figures to BENCH_RESULTS; one that fails does not stop the
# others, and the summary table (a path with no result shows as missed) closes the run.
BENCH_RESULTS ?= var/bench-results.jsonl

bench: $(STAMP)
	mkdir -p $(dir $(BENCH_RESULTS))
	$(COMPILE)
	rm -f $(BENCH_RESULTS)
	-CAUSEWAY_BENCH_RESULTS=$(BENCH_RESULTS) $(BIN)/python bench/ingest.py
	-CAUSEWAY_BENCH_RESULTS=$(BENCH_RESULTS) $(BIN)/python bench/ingest.py --db postgresql --workers 2
	-CAUSEWAY_BENCH_RESULTS=$(BENCH_RESULTS) $(BIN)/python bench/fanout.py
	-CAUSEWAY_BENCH_RESULTS=$(BENCH_RESULTS) $(BIN)/python bench/notices.py
	-CAUSEWAY_BENCH_RESULTS=$(BENCH_RESULTS) $(BIN)/python bench/policy.py
	-CAUSEWAY_BENCH_RESULTS=$(BENCH_RESULTS) $(BIN)/python bench/agent.py
	-CAUSEWAY_BENCH_RESULTS=$(BENCH_RESULTS) $(BIN)/python bench/opendata.py
	@echo
	$(BIN)/python bench/summary.py $(BENCH_RESULTS)

clean:
	rm -rf $(VENV) var test-artifacts
