# The two set-up commands are `make demo` and `make test`; everything else is a building block.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODES ?= 6

.PHONY: venv test test-unit demo fleet-up fleet-down fleet-reset fleet-status bench clean

$(BIN)/sentinelcam-models: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/sentinelcam-models

test: venv
	$(BIN)/pytest -q

test-unit: venv
	$(BIN)/pytest -q -m 'not fleet'

fleet-up: venv
	$(BIN)/python tests/fleet/fleet.py up --nodes $(NODES)

fleet-down: venv
	$(BIN)/python tests/fleet/fleet.py down

fleet-reset: venv
	$(BIN)/python tests/fleet/fleet.py reset

fleet-status: venv
	$(BIN)/python tests/fleet/fleet.py status

demo: venv
	$(BIN)/python -m sentinelcam_models.demo

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache
