# Two commands on a fresh machine: `make paper` (run the daemon in paper mode) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv paper test lint bench

$(BIN)/kalshi-guard: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(BIN)/kalshi-guard

venv: $(BIN)/kalshi-guard

paper: venv
	$(BIN)/kalshi-guard run

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest
