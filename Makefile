# Two entry points for a fresh machine with Python >= 3.11 and pip:
#   make demo   - creates .venv, installs gradtx with its example extras, runs the main demo
#   make test   - creates .venv, installs gradtx with its test extras, runs the whole suite
#   make typecheck - mypy over gradtx/ at the level set in pyproject.toml [tool.mypy]
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

.PHONY: install-test install-examples install-dev demo test typecheck lint docs bench

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

install-examples: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[examples]"

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"

demo: install-examples
	$(BIN)/python examples/compare_optimizers.py

test: install-test
	$(BIN)/python -m pytest -n 2 -q

typecheck: install-test
	$(BIN)/python -m mypy gradtx

lint: install-dev
	$(BIN)/ruff check .

docs: install-dev
	$(BIN)/mkdocs build --strict

bench: install-test
	$(BIN)/python benchmarks/step_time.py --quick
