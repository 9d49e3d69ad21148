# The two commands of the README: `make quickstart` (set up + the main job) and `make test` (set up + tests).
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.credo-installed

.PHONY: setup quickstart test test-slow lint

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first: from this platform's local CPU build; a bare `torch` requirement would pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[embedding,dev,ray]"
	touch $(STAMP)

setup: $(STAMP)

quickstart: setup
	$(VENV)/bin/credo train --config configs/room_random_5x5.yaml --name quickstart-room-random

test: setup
	$(VENV)/bin/python -m pytest -q

test-slow: setup
	$(VENV)/bin/python -m pytest -q -m slow

lint: setup
	$(VENV)/bin/ruff check .
