# Two commands (see README): `make demo` runs the demo, `make test` runs the whole test suite.
# Both create the virtual environment they need from pyproject.toml on first use.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-ledger bench-stats bench-psi clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/alliance demo

# Two worker processes, each taking whole test files (module fixtures start their services once):
# the suite's wall time on a 2-core machine is about half of one process's.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

bench-ledger: $(STAMP)
	$(VENV)/bin/python bench/ledger.py

bench-stats: $(STAMP)
	$(VENV)/bin/python bench/stats.py

bench-psi: $(STAMP)
	$(VENV)/bin/python bench/psi.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
