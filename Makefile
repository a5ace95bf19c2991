# Two entry points: `make demo` (set up, print a roofline table, solve a shipped example) and
# `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/advisor roofline --model llama-3.1-70b --gpu H100-SXM --tpot-ms 50 --ttft-ms 2000 --slo-stat p99
	$(BIN)/advisor solve demand/spiky_diurnal.csv --out out/spiky_diurnal

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# one worker per core, each test file on one worker (its fixtures built once)
test: lint
	$(BIN)/pytest -n auto --dist loadfile

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) out build *.egg-info
