# report_builder — every target calls the CLI (python -m report_builder); `make help` lists them.
#
# With no PYTHON given, the first target that needs Python creates .venv and installs the project into it.
# PYTHON=python3 make report  uses that interpreter as it is and installs nothing (machines without a registry).

CONFIG ?= experiments.toml
RESULTS ?= results
BUILD ?= build
VENV ?= .venv

# A value as one shell word, whatever it holds (spaces, quotes): 'my dir/e.toml'.
quote = '$(subst ','\'',$(1))'

ifdef PYTHON
PY := $(call quote,$(PYTHON))
SETUP :=
else
PY := $(VENV)/bin/python
SETUP := $(VENV)/.installed
endif

RB = $(PY) -m report_builder
ARGS ?=
# The paths are quoted, so that they may hold spaces (CONFIG="my study/experiments.toml"); ARGS is split
# into words on purpose.
OPTS = --config $(call quote,$(CONFIG)) --results-dir $(call quote,$(RESULTS)) --build-dir $(call quote,$(BUILD)) $(ARGS)

.DEFAULT_GOAL := help
.PHONY: help report experiment render preview list plan test test-fast bench bench-cpu docs docs-serve clean clean-venv
PORT ?= 8000
DOCS_PORT ?= 8001

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  Variables: NAME=experiment  CONFIG=$(CONFIG)  RESULTS=$(RESULTS)  BUILD=$(BUILD)  PYTHON=(use as is)"
	@echo "             ARGS='--no-pdf' (or --executor slurm, --no-stack, …: passed to the CLI)"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip || true
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

report: $(SETUP) ## Run every experiment (cached ones are skipped), then render build/report.html and .pdf
	$(RB) report $(OPTS)

experiment: $(SETUP) ## Run one experiment: make experiment NAME=sgd [FORCE=1]
	@test -n "$(NAME)" || { echo "usage: make experiment NAME=<experiment>; 'make list' shows them" >&2; exit 2; }
	$(RB) run $(NAME) $(OPTS) $(if $(FORCE),--force)

render: $(SETUP) ## Re-render HTML and PDF from existing results, training nothing
	$(RB) render $(OPTS)

preview: $(SETUP) ## Serve the report, re-rendered on every save of a template or experiments.toml: make preview [PORT=8000]
	$(RB) preview $(OPTS) --port $(PORT)

list: $(SETUP) ## List the declared experiments and the state of their results
	$(RB) list $(OPTS)

plan: $(SETUP) ## Say what make report would train, in what order, how long it takes, and what its seeds can detect
	$(RB) plan $(OPTS)

# pytest-xdist (the [test] extra) runs the tests on every core (WORKERS=1: in this process; an interpreter used
# as it is without xdist, PYTHON=python3, runs them one after another). One worker runs all of a file's tests
# (--dist loadfile), so that a module fixture (a rendered PDF) is made once and the Slurm tests, which cancel
# jobs they find by name, never meet. Each test process trains with one torch thread (tests/conftest.py).
WORKERS ?= auto
PARALLEL = $$($(PY) -c 'import xdist' 2>/dev/null && [ "$(WORKERS)" != 1 ] && echo '--dist loadfile -n $(WORKERS)')

test: $(SETUP) ## Run the whole test suite, slow end-to-end checks included, on every core [WORKERS=auto]
	$(PY) -m pytest -q $(PARALLEL)

test-fast: $(SETUP) ## Run the inner loop's tests (about a minute): all but those marked slow, slurm or install
	$(PY) -m pytest -q $(PARALLEL) -m "not slow and not slurm and not install"

bench: $(SETUP) ## Time the training pipelines, then threads beside busy processes (writes benchmarks/results/)
	$(PY) -m benchmarks.bench
	$(PY) -m benchmarks.contention_bench

bench-cpu: $(SETUP) ## Time the baseline quiet and beside 1 and 2 busy processes, threads chosen vs fixed: make bench-cpu [SHORT=1]
	$(PY) -m benchmarks.contention_bench $(if $(SHORT),--short)

docs: $(SETUP) ## Build the documentation site into site/ (mkdocs build --strict)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(SETUP) ## Serve the documentation, rebuilt on every save: make docs-serve [DOCS_PORT=8001]
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

clean: ## Delete results and the built report (keeps .venv and data)
	rm -rf $(call quote,$(RESULTS)) $(call quote,$(BUILD))

clean-venv: ## Delete the virtualenv
	rm -rf $(VENV)
