# Two commands do all the set-up on a fresh machine:
#   make demo   - run the whole pipeline on the embedded local emulator
#   make test   - run the whole test suite
# Both bootstrap .venv from the pinned requirements (and node_modules for lint tools);
# make test also .venv-localstack, LocalStack for the workflow tests' second interpreter.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# LocalStack's own venv (Python >= 3.12), built by the same bootstrap.
LS_STAMP := .venv-localstack/.installed

.PHONY: setup test demo bench lint clean snapshots

$(STAMP) $(LS_STAMP) &: requirements/*.txt package.json package-lock.json pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP) $(LS_STAMP)

setup: $(STAMP) $(LS_STAMP)

test: $(STAMP) $(LS_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/rekbatch demo $(DEMO_ARGS)

# Runs every benchmark even when one misses a goal; fails at the end if any did.
bench: $(STAMP)
	@rc=0; for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || rc=1; done; exit $$rc

# Regenerates the golden state machine snapshots after an intended workflow change.
snapshots: $(STAMP)
	$(PY) -m tests.workflow.golden

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .venv-localstack node_modules .bundle-cache build demo-output
