# The README's commands. Each installs what it needs into .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned to the CPU build on machines without a GPU; see README "Set-up".
TORCH ?= torch==2.13.0

.PHONY: demo test test-all lint typecheck docs bench ci clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

venv: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/flowkit demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

test-all: $(BIN)/.installed
	$(BIN)/python -m pytest -q --runslow

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests

typecheck: $(BIN)/.installed
	$(BIN)/mypy src

ci: lint typecheck test

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
