# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint system-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: emulator + agent + API on http://127.0.0.1:8080/ (no Azure account needed)
demo: $(STAMP)
	$(BIN)/vpnwatch demo --port $${PORT:-8080}

## test: lint, then the whole test suite (fetches the tools the tests drive; starts no service)
test: $(STAMP) system-deps
	$(BIN)/ruff check .
	PATH="$(CURDIR)/$(VENV)/debian/usr/bin:$$PATH" $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

## system-deps: Chromium (apt-get), and promtool, amtool, Alertmanager unpacked into .venv/debian
system-deps:
	@scripts/system-deps.sh

bench: $(STAMP)
	$(BIN)/python bench/correlate.py
	$(BIN)/python bench/service_http.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache var
