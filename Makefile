# Two commands on a fresh machine (python3 + make): `make demo`, `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help docs demo demo-retail score train notebooks config-doc test test-fast lint mlflow-ui clean lock compare-features bench bench-real

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# The demo first makes the list of one horizon (90 days) ago, as a backfill, so that its report can show how that
# list turned out; then this week's training run and list. `make score AS_OF=2026-11-07` then runs a weekly loop.
DEMO_PAST := 2026-08-01
demo: $(STAMP)  ## run the whole pipeline on the built-in demo data
	test -e data/scored/$(DEMO_PAST)/customers.parquet || $(PY) -m pipeline stage=all as_of=$(DEMO_PAST)
	$(PY) -m pipeline stage=all

# The second demo: data shaped like a real retail log (one acquisition cohort, ~60% one-time buyers, 18 months, a
# transactions table alone), in a project folder of its own (demo-retail/) so the first demo's models stay apart.
demo-retail: $(STAMP)  ## run the whole pipeline on the second demo (a real retail log's shape)
	$(PY) -m pipeline data=demo_retail paths.root=$(CURDIR)/demo-retail

# The weekly loop: this week's list with the current champion, no retraining (AS_OF defaults to the day after the
# last transaction). The same as `python -m pipeline stage=weekly as_of=...`.
score: $(STAMP)  ## score one week with the champion: make score AS_OF=YYYY-MM-DD
	$(PY) -m pipeline stage=weekly $(if $(AS_OF),as_of=$(AS_OF))

train: $(STAMP)  ## retrain, backtest, promote and score (what the report's "retrain" warning asks for)
	$(PY) -m pipeline stage=all $(if $(AS_OF),as_of=$(AS_OF))

test: $(STAMP)  ## every test, slow end-to-end ones included
	$(PY) -m pytest -q

lint: $(STAMP)  ## ruff (pyflakes, pycodestyle, imports, bugbear, pyupgrade, formatting) and mypy; make test runs them too
	$(VENV)/bin/ruff check pipeline tests bench notebooks
	$(VENV)/bin/ruff format --check pipeline tests bench notebooks
	$(VENV)/bin/mypy

test-fast: $(STAMP)  ## the tests without the slow (end-to-end) ones
	$(PY) -m pytest -q -m "not slow"

# The benchmark (never a test): weekly and training runs at 100k, 250k and 1M customers -> bench/results.md.
# Data is generated once into bench/cache/. `make bench SIZE=3000000` runs the weekly run alone at that size.
SIZES ?= 100000 250000 1000000
bench: $(STAMP)  ## time the weekly and training runs at several sizes; writes bench/results.md
	$(PY) bench/run.py $(if $(SIZE),--stress $(SIZE),--sizes $(SIZES))

# The real-data benchmark (never a test): both Online Retail tasks through `python -m pipeline data=online_retail`,
# against the simple baselines computed by the harness itself -> bench/real_data.md.
bench-real: $(STAMP)  ## the pipeline against every simple baseline on the real Online Retail log; writes bench/real_data.md
	$(PY) bench/real.py

notebooks: $(STAMP)  ## execute the three notebooks (after make demo) into notebooks/*.ipynb with their outputs
	$(PY) notebooks/_execute.py

docs config-doc: $(STAMP)  ## regenerate docs/configuration.md and the stage graph in docs/architecture.md
	$(PY) -m pipeline.config_doc

mlflow-ui: $(STAMP)  ## open the tracking UI on http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db --host 127.0.0.1 --port 5000

lock:  ## re-pin dependencies from pyproject into requirements.lock
	rm -rf /tmp/lock-venv && $(PYTHON) -m venv /tmp/lock-venv
	/tmp/lock-venv/bin/pip install --quiet ".[test,spark]" && /tmp/lock-venv/bin/pip freeze --exclude churn-clv-pipeline > requirements.lock

clean:  ## remove the demo project's data, models and runs
	rm -rf data/interim data/quarantine data/scored data/logs mlruns demo-retail

# The feature set of the first release, for comparison in MLflow (issue 4): the same demo, model and folds.
FIRST_FEATURE_SET := '[bgnbd_*,gg_*,brand_loyalty,complaints_30d,complaints_180d,complaints_other,nps_promoter]'

compare-features: $(STAMP)  ## backtest the first and the current feature set on the demo; both runs in MLflow
	$(PY) -m pipeline stage=ingest
	$(PY) -m pipeline stage=features features.exclude=$(FIRST_FEATURE_SET)
	$(PY) -m pipeline stage=evaluate features.exclude=$(FIRST_FEATURE_SET) tracking.run_name=first-feature-set
	$(PY) -m pipeline stage=features
	$(PY) -m pipeline stage=evaluate tracking.run_name=current-feature-set

help:  ## list the make targets and what each does
	@grep -hE '^[a-z][a-z -]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-22s %s\n", $$1, $$2}'
