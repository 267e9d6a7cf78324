# The two commands of the README: `make run` and `make test`. Nothing else needs installing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DATA   ?= var
# The embedded OPA engine: its wheel says Python >= 3.14 but its py3-none build runs on 3.11.
OPA_BINDINGS := opa-golib-python-bindings==0.4.4

.PHONY: run test venv install bench clean

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --ignore-requires-python '$(OPA_BINDINGS)'
	touch $@

venv install: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/pgw init --demo --data-dir $(DATA)
	GOGC=400 GATEWAY_DATA_DIR=$(DATA) $(VENV)/bin/pgw serve --host 127.0.0.1 --port 8000

test: $(VENV)/.installed
	$(VENV)/bin/pgw policy test
	$(PY) -m mypy gateway anonymizers keys
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/decide.py
	$(PY) bench/columns.py
	$(PY) bench/export.py

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
