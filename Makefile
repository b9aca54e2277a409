# meshpantry: two commands from a fresh clone.
#   make run    set up .venv and start a node with the terminal UI
#   make test   set up .venv with the test extras and run the whole suite
#   make demo   the terminal UI on a demo neighbourhood (loopback, temporary)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run demo test soak bench vectors clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/meshpantry tui

demo: $(STAMP)
	$(BIN)/meshpantry tui --demo

# Tests of one file share fixtures (a mesh of node processes) and run in
# order on one worker; files are spread over two workers.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

soak: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	$(BIN)/python -m pytest -q -m slow -p no:randomly

bench: $(STAMP)
	$(BIN)/python -m simulations.bench all

vectors: $(STAMP)
	$(BIN)/python -m protocol.make_vectors

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
