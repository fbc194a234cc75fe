# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) demo.py $(DEMO_ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check src tests demo.py benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

# wpsd and PyWPS (in its own .venv-pywps) as servers under gunicorn, side by side.
bench: $(STAMP)
	$(PY) benchmarks/bench_servers.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-pywps build src/*.egg-info .pytest_cache
