# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PYTEST_ARGS ?=  # e.g. make test PYTEST_ARGS=--durations=20
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.nasproxy-installed

.PHONY: demo test test-drills test-slow lint data bench bench-gpu clean

$(STAMP): pyproject.toml scripts/venv.sh
	bash scripts/venv.sh $(VENV) $(PYTHON) dev
	@touch $(STAMP)

## demo: set up, get the default data, run the pipeline on a small budget
demo: $(STAMP) data
	@VENV=$(VENV) bash scripts/demo.sh

## test: set up and run the test suite (CPU, one process per core and one more, torch on one thread in each); installs PostgreSQL for its tests when it can.
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set (as on this machine): pip installs without it, and the
# suite's hundreds of processes would each compile torch again (fresh clone, same hour: 380 s -> 322 s)
test: $(STAMP)
	@bash scripts/get-postgres.sh
	OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n auto --dist loadfile -m "not slow and not gpu and not drill" $(PYTEST_ARGS)

## test-drills: the failure drills' heavier variants (several processes, PostgreSQL kills, the GPU builder's deadline); CI runs them after `make test`
test-drills: $(STAMP)
	@bash scripts/get-postgres.sh
	OMP_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n auto --dist loadfile -m "drill and not slow and not gpu" $(PYTEST_ARGS)

## test-slow: the heavier checks (real Fashion-MNIST on CPU; the CUDA paths, skipped without a GPU)
test-slow: $(STAMP)
	$(PY) -m pytest -q -rs -m "slow or gpu"

## lint: ruff, mypy and the import layering (import-linter contracts in pyproject.toml)
lint: $(STAMP)
	$(PY) -m ruff check nas_proxy tests benchmarks
	$(PY) -m ruff format --check nas_proxy tests benchmarks
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

## data: install Fashion-MNIST from Debian's dataset-fashion-mnist when possible
data:
	@bash scripts/get-data.sh

## bench: the CPU benchmarks (numbers go to benchmarks/RESULTS.md by hand, with the command)
bench: $(STAMP)
	$(PY) benchmarks/distill_speed.py

## bench-gpu: the prepared GPU check, 8 minutes on one H100 (no venv needed); ARGS=--dry-run: tiny, on CPU
bench-gpu:
	bash benchmarks/gpu_check.sh $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache .grimp_cache
