# The two commands: `make demo` runs the study on the embedded world, `make test` runs the tests.
# Both create .venv on first use. torch is pinned first so that pip takes the CPU build.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: demo test install install-dev bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed

demo: install
	$(VENV)/bin/unmirage run

test: install-dev
	$(PY) -m pytest

bench: install
	$(PY) bench/study_time.py

clean:
	rm -rf runs .pytest_cache
