# Every target sets up what it needs: a fresh clone only needs python3.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench postgresql sample-data clean

$(STAMP): requirements.txt
	@echo "Installing SalesOS's pinned dependencies into $(VENV) (a minute or two, once)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m connector run --market examples/market.yaml --as-of 2026-11-02 --send-now
	$(PY) -m connector report

test: $(STAMP) postgresql
	$(PY) -m pytest -q -n 2

bench: $(STAMP) postgresql
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || \
		(apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1) || \
		echo "wrk could not be installed: bench/webhooks.py falls back to its Python load generator"
	$(PY) bench/pipeline.py --database both
	$(PY) bench/crm_calls.py
	$(PY) bench/webhooks.py
	$(PY) bench/provider_cost.py
	$(PY) bench/soak.py
	$(PY) bench/replies.py
	$(PY) bench/outreach.py

# The tests start a throwaway cluster from Debian's PostgreSQL server binaries (tests/postgres_server.py).
PG_BIN_DIRS ?= /usr/lib/postgresql/*/bin
postgresql:
	@{ command -v initdb && command -v postgres; } >/dev/null || ls $(PG_BIN_DIRS)/postgres >/dev/null 2>&1 || { \
		echo "PostgreSQL not found: installing Debian's postgresql package for the tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq postgresql >/dev/null 2>&1 || \
		(apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1) || \
		echo "PostgreSQL could not be installed (apt-get install postgresql): the PostgreSQL tests will fail"; }

sample-data: $(STAMP)
	$(PY) scripts/make_sample_data.py

clean:
	rm -rf $(VENV) var
