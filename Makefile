# The two commands a newcomer needs: `make run` and `make test`.
# Each builds .venv from uv.lock by itself; uv is bootstrapped into .venv/bootstrap with pip.
PYTHON ?= python3
VENV := .venv
BOOT := $(VENV)/bootstrap
UV := $(BOOT)/bin/uv
UV_VERSION := 0.13.9

.PHONY: run test lint typecheck pytest bench venv clean

$(UV):
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	UV_PROJECT_ENVIRONMENT=$(VENV)/env $(UV) sync --locked --quiet
	touch $@

venv: $(VENV)/.synced

run: venv
	$(VENV)/env/bin/eventualshop serve

test: venv
	$(VENV)/env/bin/ruff check .
	$(VENV)/env/bin/ruff format --check .
	$(VENV)/env/bin/mypy
	$(VENV)/env/bin/mypy bench
	$(VENV)/env/bin/pytest $(PYTEST_ARGS)

bench: venv
	$(VENV)/env/bin/python bench/eventstore.py --json --quick

clean:
	rm -rf $(VENV)
