# `make demo` and `make test` set everything up on a fresh machine: a .venv with the CPU build of
# torch 2.13.0 and every extra, resolved in one pip install.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONTRAST_DATA ?= $(abspath ../shared/data)
PYTEST_ARGS ?=

.PHONY: install demo test test-all lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml .ci/constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[all]" -c .ci/constraints-cpu.txt
	$(PY) -m pip check
	touch $@

demo: $(STAMP)
	$(VENV)/bin/contrast demo

test: $(STAMP)
	CONTRAST_DATA=$(CONTRAST_DATA) $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	CONTRAST_DATA=$(CONTRAST_DATA) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared graph_cl recsys_cl timeseries_cl pointcloud_cl

bench: $(STAMP)
	$(PY) benchmarks/bench_infonce.py

clean:
	rm -rf $(VENV) build *.egg-info
