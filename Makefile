# customerio-sink — developer entry points. `make` alone prints this help.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ROWS   ?= 1000000
# The support matrix: two more legs, each in its own venv, run the guarantee tests (exactly once
# under a kill, nothing lost, the shared budget, the jobs): Spark 3.5 through the foreachBatch door,
# and the newest pyspark/delta-spark pair through both doors.
MATRIX_VENV  := .venv-spark35
MATRIX_STAMP := $(MATRIX_VENV)/.installed
NEWEST_VENV  := .venv-spark-newest
NEWEST_STAMP := $(NEWEST_VENV)/.installed
MATRIX_TESTS := tests/spark/test_mapping.py tests/spark/test_delivery.py tests/spark/test_crash.py \
                tests/spark/test_budget.py tests/spark/test_dedupe.py tests/jobs/test_sync_events.py
NEWEST_TESTS := tests/spark/test_delivery.py tests/spark/test_crash.py tests/spark/test_budget.py \
                tests/jobs/test_sync_events.py tests/spark/test_datasource_ledger.py
MATRIX_DEPS  := "pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100"

.DEFAULT_GOAL := help
.PHONY: help dev demo docs test test-matrix test-fast lint fmt typecheck bench bench-series bench-smoke emulator wheel deploy-dev clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[local,dev,docs]"
	touch $(STAMP)

dev: $(STAMP) ## create .venv and install the package with the local (pinned Spark + Delta), dev and docs extras

demo: $(STAMP) ## run the end-to-end demo: emulator + local Spark/Delta + the streaming jobs
	$(PY) -m streaming_jobs.demo

docs: $(STAMP) ## build the documentation site into site/ (strict: any warning fails)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir site
	@echo "docs: site/index.html"

test: $(STAMP) ## run the whole test suite (lint, types, docs build, unit, Spark + Delta, emulator over HTTP)
	$(PY) -m ruff check customerio_sink streaming_jobs tests benchmarks
	$(PY) -m mypy
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir site
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-matrix

$(MATRIX_STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(MATRIX_VENV)
	$(MATRIX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MATRIX_VENV)/bin/python -m pip install --quiet -e ".[spark35]" $(MATRIX_DEPS)
	touch $(MATRIX_STAMP)

$(NEWEST_STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST_VENV)/bin/python -m pip install --quiet -e ".[spark_newest]" $(MATRIX_DEPS)
	touch $(NEWEST_STAMP)

test-matrix: $(MATRIX_STAMP) $(NEWEST_STAMP) ## the guarantee tests on Spark 3.5.7 + Delta 3.3.2 and on the newest pair, Spark 4.2.0 + Delta 4.4.0 (see docs/platforms.md)
	@echo "matrix: Spark 3.5.7 + Delta 3.3.2 (the main suite above ran on Spark 4.0.1 + Delta 4.0.1)"
	@$(MATRIX_VENV)/bin/python -m pytest -q -p no:cacheprovider -k "not datasource" $(MATRIX_TESTS) \
	  || { echo "matrix FAILED on Spark 3.5.7 + Delta 3.3.2"; exit 1; }
	@echo "matrix: Spark 4.2.0 + Delta 4.4.0 (the newest pair that resolve together)"
	@$(NEWEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(NEWEST_TESTS) \
	  || { echo "matrix FAILED on Spark 4.2.0 + Delta 4.4.0"; exit 1; }

test-fast: $(STAMP) ## unit tests only (no Spark)
	$(PY) -m pytest -m "not spark"

lint: $(STAMP) ## ruff lint + format check
	$(PY) -m ruff check customerio_sink streaming_jobs tests benchmarks
	$(PY) -m ruff format --check customerio_sink streaming_jobs tests benchmarks

fmt: $(STAMP) ## format the code
	$(PY) -m ruff format customerio_sink streaming_jobs tests benchmarks
	$(PY) -m ruff check --fix customerio_sink streaming_jobs tests benchmarks

typecheck: $(STAMP) ## mypy on the package
	$(PY) -m mypy

bench: $(STAMP) ## throughput benchmark (ROWS=1000000 by default; e.g. make bench ROWS=20000)
	$(PY) -m benchmarks.run --rows $(ROWS)

bench-series: $(STAMP) ## after make bench: 100k/1M/5M with a 2g driver, 20 batches, 3 repeats (~30 min)
	$(PY) -m benchmarks.series sizes
	$(PY) -m benchmarks.series batches
	$(PY) -m benchmarks.series repeat

emulator: $(STAMP) ## run the Customer.io emulator on port 8765
	$(PY) -m customerio_sink.emulator --port 8765

wheel: $(STAMP) ## build the package's wheel into dist/ (the Databricks bundle's artefact)
	rm -rf build dist/customerio_sink-*.whl
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	@ls dist/customerio_sink-*.whl

deploy-dev: ## bundle validate + deploy to the dev target (needs the Databricks CLI, see docs/deployment.md)
	scripts/deploy.sh dev

clean: ## remove build, test and demo artefacts (keeps .venv)
	rm -rf build dist site *.egg-info .pytest_cache .mypy_cache .ruff_cache spark-warehouse metastore_db derby.log demo-output bench-output
