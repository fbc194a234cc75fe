# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The demo needs the runtime only; the tests add their tools (browser driver, linters...).
DEMO_STAMP := $(VENV)/.demo-stamp
STAMP := $(VENV)/.installed-stamp

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(DEMO_STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
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
