# Credit-risk pipeline: the whole set-up is `make demo` and `make test`. `make help` lists the rest.
SHELL := /bin/bash
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt constraints.txt | sha1sum | cut -c1-12)
# Superset lives in a venv of its own: its dependencies never touch the pipeline's lock.
BI_VENV := .venv-bi
BI_REQUIREMENTS := bi/superset/requirements.txt docker/superset/constraints.txt
BI_STAMP := $(BI_VENV)/.installed-$(shell cat $(BI_REQUIREMENTS) | sha1sum | cut -c1-12)

# The local targets run on simulated data in development mode: a missing pseudonym key falls back to a
# published development key, with a warning in the log. A deployment never sets CRM_RISK_DEVELOPMENT
# and must provide PSEUDONYM_KEY (docs/security.md).
DEV_TARGETS := demo test test-fast airflow airflow-env desk bi bench dbt-docs
$(DEV_TARGETS): export CRM_RISK_DEVELOPMENT ?= 1
DEV_NOTE = @echo "development mode (CRM_RISK_DEVELOPMENT=$$CRM_RISK_DEVELOPMENT): simulated data; without PSEUDONYM_KEY a published development key is used" >&2

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint format airflow airflow-env desk desk-browser-deps bi bi-install bi-lock bench pg-start pg-stop dbt-docs lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements.txt constraints.txt
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv and install the pinned stack (skipped when up to date)

$(BI_STAMP): $(BI_REQUIREMENTS)
	@test -x $(BI_VENV)/bin/python || $(PYTHON_BIN) -m venv $(BI_VENV)
	$(BI_VENV)/bin/python -m pip install -q -U pip
	$(BI_VENV)/bin/python -m pip install -q -r bi/superset/requirements.txt -c docker/superset/constraints.txt
	@rm -f $(BI_VENV)/.installed-* && touch $@

bi-install: $(BI_STAMP) ## Create .venv-bi with Apache Superset 6.1 pinned by docker/superset/constraints.txt (skipped when up to date)

demo: install ## Simulate sources, load history, run crm_credit_risk_daily through Airflow, print a summary
	$(DEV_NOTE)
	$(PY) -m devtools.demo $(DEMO_ARGS)

test: install bi-install lint desk-browser-deps ## Lint, then run the whole test suite against a real PostgreSQL (TEST_WAREHOUSE_URL, else 127.0.0.1:5432, else embedded)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install ## Run the suite without the slow end-to-end runs
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

RUNTIME_PACKAGES := common ingest ml ratings expectations pipeline dags devtools desk bi

lint: install ## ruff check + format check, mypy on the runtime packages, sqlfluff on the dbt models
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check $(RUNTIME_PACKAGES)
	$(VENV)/bin/mypy
	$(VENV)/bin/sqlfluff lint dbt_project/models dbt_project/macros --disable-progress-bar

format: install ## Apply ruff's fixes and its formatter on the runtime packages
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format $(RUNTIME_PACKAGES)

airflow: install ## Start the local Airflow UI + scheduler (http://localhost:8080) on the embedded warehouse
	$(DEV_NOTE)
	$(PY) -m devtools.local_airflow standalone

airflow-env: install ## Print the environment of the local Airflow (eval it to use the airflow CLI)
	@$(PY) -m devtools.local_airflow env

desk: install ## Start the credit desk on http://127.0.0.1:8090 over the embedded warehouse (DESK_PORT to change)
	$(DEV_NOTE)
	$(PY) -m common.migrate
	$(PY) -m desk serve --port $${DESK_PORT:-8090}

bi: install bi-install ## Start Superset with the credit-risk dashboard on http://127.0.0.1:8088 (BI_PORT to change)
	$(DEV_NOTE)
	$(PY) -m bi.serve

desk-browser-deps: ## Install Debian's chromium + chromium-driver for the desk's browser test (when missing)
	@command -v chromedriver >/dev/null && command -v chromium >/dev/null || \
	  { echo "installing chromium and chromium-driver (apt-get)"; \
	    $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y chromium chromium-driver; }

bench: install ## Run the benchmarks (not tests) and write bench/results/
	$(PY) -m bench.run_all $(BENCH_ARGS)

pg-start: install ## Start the embedded PostgreSQL warehouse
	$(PY) -m devtools.embedded_pg start

pg-stop: ## Stop the embedded PostgreSQL warehouse
	$(PY) -m devtools.embedded_pg stop

dbt-docs: install ## Generate the dbt docs site into .state/dbt/target
	$(PY) -c "from common.dbt import run_dbt; run_dbt(['docs', 'generate'])"

lock: ## Refresh constraints.txt from the current venv (after changing requirements.txt)
	{ echo "# Lock for requirements.txt: a pip freeze of the verified environment (CPython 3.11)."; \
	  echo "# Regenerate with: make lock"; $(PY) -m pip freeze | grep -v '^-e'; } > constraints.txt

bi-lock: ## Refresh docker/superset/constraints.txt from .venv-bi (after changing bi/superset/requirements.txt)
	{ echo "# Lock for bi/superset/requirements.txt: a pip freeze of the verified Superset venv (CPython 3.11)."; \
	  echo "# Regenerate with: make bi-lock"; $(BI_VENV)/bin/python -m pip freeze | grep -v '^-e'; } > docker/superset/constraints.txt

clean: pg-stop ## Remove the local state folder (warehouse data, Airflow home, MLflow store)
	rm -rf .state
