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

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	@mkdir -p .mypy-root && ln -sfn .. .mypy-root/kalshi_guard
	MYPYPATH=.mypy-root $(BIN)/mypy --strict --no-namespace-packages -p kalshi_guard.core -p kalshi_guard.ledger \
		-p kalshi_guard.exchange -p kalshi_guard.config -p kalshi_guard.web
	MYPYPATH=.mypy-root $(BIN)/mypy --no-namespace-packages -p kalshi_guard.actors -p kalshi_guard.control \
		-p kalshi_guard.simulator -p kalshi_guard.supervisor

test: lint
	$(BIN)/pytest
