# Two commands for a fresh clone with only python3 and make:
#   make run   - install into .venv and run the main job on the embedded default
#   make test  - the same venv plus dev extras, then the test suite
PYTHON ?= python3
VENV   := .venv
UV     := $(VENV)/bin/uv
UV_VERSION := 0.13.9
# uv must never download a Python or touch the user's global config.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test bench lint install install-dev clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

# --inexact keeps uv itself in the venv; --frozen installs exactly uv.lock.
install: $(UV)
	$(UV) sync --frozen --inexact --extra demo --python $(VENV)/bin/python

install-dev: $(UV)
	$(UV) sync --frozen --inexact --extra demo --extra dev --python $(VENV)/bin/python

run: install
	$(VENV)/bin/feedcheck demo

test: install-dev
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(UV)
	$(UV) sync --frozen --inexact --extra demo --extra dev --extra bench --python $(VENV)/bin/python
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) out .pytest_cache

lint: install-dev
	$(VENV)/bin/ruff check feedcheck tests deployments bench
	$(VENV)/bin/ruff format --check feedcheck tests deployments bench
