# kpiboard: `make demo` sets everything up and runs the demo company; `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
DEMO_ARGS ?=

.PHONY: setup demo test lint typecheck pytest bench clean

$(VENV)/.installed: pyproject.toml scripts/setup-system.sh
	PYTHON=$(PYTHON) ./scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/kpiboard demo --dir $(DEMO_DIR) $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collected no tests: a failure here, never a quiet pass.
pytest: setup
	$(BIN)/pytest -n 2; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

test: lint typecheck pytest

bench: setup
	$(BIN)/python bench/generate.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
