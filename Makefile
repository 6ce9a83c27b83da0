# One venv, two entry points: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# `make test` runs pytest on every core (up to four) with pytest-xdist; tests that must not
# share the machine carry `xdist_group` and run on one worker. PYTEST_JOBS=0 runs it serially.
PYTEST_JOBS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_JOBS) --maxprocesses 4 --dist loadgroup

.PHONY: run test demo lint format typecheck bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/csms serve $(ARGS)

demo: $(STAMP)
	$(BIN)/csms demo $(ARGS)

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy csms balancing
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

# The console's screenshots in docs/images/ (README), taken by its browser tests.
screenshots: $(TEST_STAMP)
	CSMS_SCREENSHOTS=1 $(BIN)/python -m pytest tests/web -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(TEST_STAMP)
	$(BIN)/mypy csms balancing

bench: $(STAMP)
	$(BIN)/python benchmarks/balancing.py
	$(BIN)/python benchmarks/ocpp_throughput.py
	$(BIN)/python benchmarks/control_latency.py
	$(BIN)/python benchmarks/config_snapshots.py
	$(BIN)/python benchmarks/sim_stations.py
	$(BIN)/python benchmarks/storage_bad_writes.py
	$(BIN)/python benchmarks/fairness.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
