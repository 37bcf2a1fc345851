# Two set-up commands for a fresh clone:
#   make run    creates .venv, installs Matinee and runs the bot (without DISCORD_TOKEN: the sandbox)
#   make test   creates .venv, installs Matinee with its test extra and runs the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench bench-smoke install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

run: install
	$(BIN)/matinee start

test: install-test
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check .

bench: install-test
	$(BIN)/python -m bench

bench-smoke: install-test
	$(BIN)/python -m bench --smoke

clean:
	rm -rf $(VENV) build *.egg-info
