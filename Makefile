# `make demo` and `make test` set everything up on a fresh machine: a .venv with the CPU build of
# torch 2.13.0 and every extra but the benchmark peers, resolved in one pip install, then checked
# with `pip check` and by importing every installed distribution (.ci/check_imports.py).
# `make bench` builds a second environment, .venv-bench, for the peer libraries (lightly needs
# torchvision, whose wheels need a CUDA build of torch: .ci/constraints-bench.txt), and runs the
# benchmarks there, ours and the peers alternated in one process.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_VENV ?= .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_STAMP := $(BENCH_VENV)/.installed
CONTRAST_DATA ?= $(abspath ../shared/data)
PYTEST_ARGS ?=
# Path of a checkout of the official GRACE code (github.com/CRIPAC-DIG/GRACE) for its bench row.
OFFICIAL_GRACE ?=

.PHONY: install bench-env demo test test-all lint bench gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml .ci/constraints-cpu.txt .ci/check_imports.py
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --quiet -e ".[all]" -c .ci/constraints-cpu.txt
	$(PY) -m pip check
	$(PY) .ci/check_imports.py
	touch $@

bench-env: $(BENCH_STAMP)

$(BENCH_STAMP): pyproject.toml .ci/constraints-bench.txt .ci/check_imports.py
	$(PYTHON) -m venv --clear $(BENCH_VENV)
	$(BENCH_PY) -m pip install --quiet -e ".[graph,recsys,bench,dev]" -c .ci/constraints-bench.txt
	$(BENCH_PY) -m pip check
	$(BENCH_PY) .ci/check_imports.py
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

bench: $(BENCH_STAMP)
	$(BENCH_PY) benchmarks/bench_infonce.py
	CONTRAST_DATA=$(CONTRAST_DATA) $(BENCH_PY) benchmarks/bench_recsys.py
	CONTRAST_DATA=$(CONTRAST_DATA) $(BENCH_PY) benchmarks/bench_graph.py --data cora \
		$(if $(OFFICIAL_GRACE),--official-grace $(OFFICIAL_GRACE))
	CONTRAST_DATA=$(CONTRAST_DATA) $(BENCH_PY) benchmarks/bench_graph.py --data computers cs \
		--warmup 0 --rounds 1

gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) build *.egg-info
