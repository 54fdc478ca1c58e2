# Student Locator Framework — the two commands that matter:
#   make demo   set up .venv and run the end-to-end demo (embedded SQLite default)
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv bench lint clean

venv: $(STAMP)

# setup.py compiles the matcher (ssid/matching/native.py): an edited module is compiled again
$(STAMP): pyproject.toml setup.py $(wildcard ssid/matching/*.py)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/slf demo

test: $(STAMP)
	$(BIN)/pytest -q -n 2

bench: $(STAMP)
	$(BIN)/python benchmarks/messages_bench.py

lint: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info build ssid/matching/*.so ssid/matching/compiled.json *__mypyc*.so
