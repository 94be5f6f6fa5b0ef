# Two entry points for a fresh machine: `make demo` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kairos-installed
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test lint typecheck pytest faults load docker-smoke clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: this exact CPU build lies on the machine's disk (any other pulls several GB).
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/kairos demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck pytest

# The longer reliability runs (issue 7): fault scenarios with asserted outcomes, and the 1/16/64-client load.
faults: $(STAMP)
	$(BIN)/python benchmarks/faults.py

load: $(STAMP)
	$(BIN)/python benchmarks/load.py

# The compose stack end to end: build, index a small corpus over HTTP, search, tear down (needs Docker with
# compose; not part of `make test`).
docker-smoke:
	$(PYTHON) docker/smoke.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
