# The README's commands. Each installs what it needs into .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned to the CPU build on machines without a GPU; see README "Set-up".
TORCH ?= torch==2.13.0

.PHONY: demo test test-all lint typecheck docs bench bench-quick bench-venv ci clean

$(BIN)/.installed: pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev,docs]"
	touch $@

venv: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/flowkit demo

# Every distribution in plugins/ (its own pyproject.toml), installed editable into .venv once;
# reinstalled when one of their pyproject.toml files changes.
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))

$(BIN)/.plugins-installed: $(BIN)/.installed $(wildcard plugins/*/pyproject.toml)
	$(BIN)/pip install -q $(foreach p,$(PLUGINS),-e $(p))
	touch $@

# The core suite (which then also covers what the plugins register), then each plugin's own tests.
test: $(BIN)/.installed $(BIN)/.plugins-installed
	$(BIN)/python -m pytest -q
	@for p in $(PLUGINS); do \
		echo "== $$p"; \
		(cd $$p && $(CURDIR)/$(BIN)/python -m pytest -q -p no:cacheprovider) || exit 1; \
	done

test-all: $(BIN)/.installed
	$(BIN)/python -m pytest -q --runslow

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests

typecheck: $(BIN)/.installed
	$(BIN)/mypy src

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on any warning.
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The benchmarks against flow_matching and torchcfm (benchmarks/README.md). The peers come from the
# `bench` extra; torchcfm goes in with --no-deps so that its torchdyn dependency cannot replace torch.
$(BIN)/.bench-installed: $(BIN)/.installed pyproject.toml
	$(BIN)/pip install -q "flow-matching>=1.0.10" "pot>=0.9" "scipy>=1.10" "scikit-learn>=1.3" "matplotlib>=3.7"
	$(BIN)/pip install -q --no-deps "torchcfm>=1.0.7"
	# sbi (benchmark I) with torch pinned beside it, so that it can never replace the installed torch
	$(BIN)/pip install -q "sbi>=0.27" "$(TORCH)"
	touch $@

bench-venv: $(BIN)/.bench-installed

bench: $(BIN)/.bench-installed
	$(BIN)/python -m benchmarks

bench-quick: $(BIN)/.bench-installed
	$(BIN)/python -m benchmarks --quick

ci: lint typecheck test

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
