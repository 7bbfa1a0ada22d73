# The two commands of the README:
#   make lab    create .venv (once), install genlab and the course, copy the notebooks into
#               your workspace (work/, git-ignored) and start JupyterLab there
#   make test   create .venv (once), install genlab and the test tools, run every test
# Both are idempotent: the environment is rebuilt only when pyproject.toml or
# constraints.txt change (the stamp file records their hash).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.genlab-installed
# xdist workers for the suite; CI has 2 cores.
WORKERS ?= auto
PORT   ?= 8888
# students' own copies of the notebooks (`genlab workspace`); git-ignored
WORKSPACE ?= work
# extra arguments for `jupyter lab` (tests pass a token and --no-browser)
LAB_ARGS ?=
# extra arguments for `python -m bench` (make bench)
BENCH_ARGS ?=
# JupyterLab refuses to run as root without this (CI and containers run as root)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test install clean-venv build check lint workspace bench results site

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (genlab)" >/dev/null
	@touch $(STAMP)

install: $(STAMP)

workspace: $(STAMP)
	$(VENV)/bin/genlab workspace $(WORKSPACE)

# Serves the whole checkout (course/, labs/ stay reachable) but opens the workspace, where
# students type; no news or update toasts over the notebooks. .venv/bin goes first on the
# PATH so that `!genlab ...` in a notebook finds the command.
lab: workspace
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter lab --port=$(PORT) --notebook-dir=. --LabApp.default_url=/lab/tree/$(WORKSPACE) \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	  $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	$(PY) -m pytest -n $(WORKERS) --dist loadfile --timeout=900 --nbval-lax --nbval-cell-timeout=300 tests course solutions

build: $(STAMP)
	$(VENV)/bin/genlab build

check: $(STAMP)
	$(VENV)/bin/genlab build --check

# the benchmarks live in bench/ (not in the package): make bench BENCH_ARGS="--quick --json q.json"
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check genlab tests bench course solutions

clean-venv:
	rm -rf $(VENV)

# `make results`: refresh docs/results.json, the registry of every figure the prose quotes
# (genlab/results.py): the figures of docs/benchmarks.json (written by `genlab bench`), then a
# full-mode run of each lecture, whose record cells write its headline figures and whose wall
# time becomes its "Time" line. Minutes to an hour on 2 cores. Then `genlab build` tells you
# which sentences no longer match their figures.
RESULTS_NOTEBOOKS ?= $(sort $(wildcard course/[0-9][0-9]_*.ipynb))
results: $(STAMP)
	$(PY) -m genlab.results import
	$(PY) -m genlab.results run $(RESULTS_NOTEBOOKS)
	$(VENV)/bin/genlab build --check

# `make site`: execute every lecture, lab and solution and render them into site/ with
# MkDocs (mkdocs-material + mkdocs-jupyter). Fast mode by default; FULL=1 for full mode
# (the published build). The `site` extra is installed on first use.
SITE_STAMP := $(VENV)/.genlab-site-installed
$(SITE_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,site]'
	@touch $(SITE_STAMP)

site: $(SITE_STAMP)
	$(PY) -m genlab.site $(if $(FULL),--full,)

