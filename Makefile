# The two commands the README opens with: `make demo` and `make test`.
# Each sets itself up first (scripts/setup.sh is safe to run again).
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test lint typecheck check bench

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(DEMO_ARGS)

test: setup
	@$(PY) -m ruff check .
	@$(PY) -m mypy
	@$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	@$(PY) -m ruff check .

typecheck: setup
	@$(PY) -m mypy
