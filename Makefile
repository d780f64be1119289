# gpucredit: `make demo` runs the batch on the bundled demo tape, `make test` runs every test.
# Both create the virtual environment and install the project first (once).
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
OUT     ?= out
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint bench wheel clean golden sandbox-demo

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gpucredit recalc workbooks/demo_tape.xlsx -o $(OUT)/demo_results.xlsx --paths 2000 --seed 7

# recalc-workbook on a workbook linking files outside it: shows no byte of them in the output
sandbox-demo: $(STAMP)
	$(PY) -m tests.recalc_sandbox_demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

test: lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) -q

# Regenerate the golden demo metrics deliberately, after a reviewed model change.
golden: $(STAMP)
	$(PY) tests/golden/regenerate.py

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

wheel: $(STAMP)
	$(PY) -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build $(OUT) .pytest_cache .ruff_cache .hypothesis
