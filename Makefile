# Two set-up commands for a fresh clone:
#   make run    creates .venv, installs Matinee and runs the bot (without DISCORD_TOKEN: the sandbox)
#   make test   creates .venv, installs Matinee with its test extra and runs the tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# pip runs only when pyproject.toml changed: each install leaves a stamp named after the file's
# hash, so a second `make run` or `make test` starts at once. The install is editable, so code
# changes need no reinstall; only pyproject.toml (dependencies, entry points) does.
PYPROJECT_HASH := $(shell $(PYTHON) -c "import hashlib; print(hashlib.sha256(open('pyproject.toml', 'rb').read()).hexdigest()[:16])")
INSTALLED := $(VENV)/.installed-$(PYPROJECT_HASH)
INSTALLED_TEST := $(VENV)/.installed-test-$(PYPROJECT_HASH)

.PHONY: run test lint bench bench-smoke install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The test extra includes everything `install` installs, so its stamp satisfies both.
$(INSTALLED): | $(BIN)/python
	@if [ ! -f $(INSTALLED_TEST) ]; then \
		echo "$(BIN)/python -m pip install --quiet -e ."; \
		rm -f $(VENV)/.installed-*; \
		$(BIN)/python -m pip install --quiet -e .; \
	fi
	@touch $@

$(INSTALLED_TEST): | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-*
	@touch $(INSTALLED) $@

install: $(INSTALLED)

install-test: $(INSTALLED_TEST)

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
