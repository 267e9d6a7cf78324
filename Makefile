# The two commands of the README: `make run` and `make test`. Nothing else needs installing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DATA   ?= var
# The embedded OPA engine: its wheel says Python >= 3.14 but its py3-none build runs on 3.11.
OPA_BINDINGS := opa-golib-python-bindings==0.4.4
# The browser tests drive Debian's Chromium (Playwright's own browser download cannot
# work offline); installed from Debian's packages when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test venv install bench clean screenshots browser

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --ignore-requires-python '$(OPA_BINDINGS)'
	touch $@

venv install: $(VENV)/.installed

$(CHROMIUM):
	@echo "installing Debian's chromium, chromium-driver and a CJK font for the browser tests"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-wqy-microhei

browser: $(CHROMIUM)

run: $(VENV)/.installed
	$(VENV)/bin/pgw init --demo --data-dir $(DATA)
	GOGC=400 GATEWAY_DATA_DIR=$(DATA) $(VENV)/bin/pgw serve --host 127.0.0.1 --port 8000

test: $(VENV)/.installed $(CHROMIUM)
	$(VENV)/bin/pgw policy test
	$(PY) -m mypy gateway anonymizers keys
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/decide.py
	$(PY) bench/columns.py
	$(PY) bench/export.py

screenshots: $(VENV)/.installed $(CHROMIUM)
	$(PY) -m tests.browser.screenshots docs/screenshots

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
