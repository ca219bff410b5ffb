# kpiboard: `make demo` sets everything up and runs the demo company; `make test` runs the checks;
# `make lock` moves the pinned versions.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every package, runtime and dev, at the exact version and hashes in the lock; `make lock` writes it.
LOCK := requirements.lock
DEMO_DIR ?= demo
DEMO_ARGS ?=
# make lock UPGRADE=great-expectations (or several names, or all): move those within pyproject's bounds
UPGRADE ?=
# What proves the locked versions of the patched and rendered-through dependencies still behave.
GUARD_TESTS := tests/test_lock.py tests/validation/test_gx_duckdb.py \
	tests/validation/test_engine.py tests/kpi/test_golden_sql.py

.PHONY: setup demo test lint typecheck pytest lock bench clean

# The venv gets the lock's packages, each checked against its hashes, then kpiboard itself with
# no dependencies, built by the locked setuptools (no build isolation, which would fetch the newest
# setuptools). pip is the one that comes with $(PYTHON). A changed lock reinstalls.
$(VENV)/.installed: pyproject.toml $(LOCK) scripts/setup-system.sh
	PYTHON=$(PYTHON) ./scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed

# Relock (keeping every pin pyproject still allows, unless UPGRADE names it), make the venv exactly
# the new lock (uv's sync also removes what the lock dropped, kpiboard's editable install too, which
# setup puts back), then run the guard tests on it.
lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command 'make lock' --quiet \
		$(if $(filter all,$(UPGRADE)),--upgrade,$(addprefix --upgrade-package ,$(UPGRADE))) \
		--output-file $(LOCK)
	$(BIN)/uv pip sync --python $(BIN)/python --require-hashes --quiet $(LOCK)
	rm -f $(VENV)/.installed
	$(MAKE) setup
	$(BIN)/pytest -q $(GUARD_TESTS)

demo: setup
	$(BIN)/kpiboard demo --dir $(DEMO_DIR) $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collected no tests: a failure here, never a quiet pass. worksteal: the
# pipeline tests take 20-60 s each, and a worker that ends early takes work from the other
# instead of idling while it finishes its share (16.5 min → 10.5 min on 2 cores).
pytest: setup
	$(BIN)/pytest -n 2 --dist worksteal; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

test: lint typecheck pytest

bench: setup
	$(BIN)/python bench/generate.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
