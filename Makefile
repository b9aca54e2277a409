# meshpantry: two commands from a fresh clone.
#   make run    set up .venv and start a node with the terminal UI (LAN)
#   make test   set up .venv with the test extras and run the whole suite
#   make demo   the terminal UI on a demo neighbourhood (loopback, temporary)
#
# Everything but `run` keeps every node on loopback (MESHPANTRY_NETWORK=loopback):
# tests, the demo, soak runs and benchmarks never send a packet beyond 127.0.0.0/8.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set of packages: `run` installs the app alone, `test` adds the
# test extras, so `make run` never pulls in pytest and friends.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# pip's and setuptools' chatter (build back-end warnings, "Obtaining ...")
# goes to a log; it is shown only when the install fails.
PIP_LOG := $(VENV)/pip.log
PIP_INSTALL = $(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check

.PHONY: run demo test soak bench vectors clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip > $(PIP_LOG) 2>&1 || (cat $(PIP_LOG); exit 1)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e . > $(PIP_LOG) 2>&1 || (cat $(PIP_LOG); exit 1)
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[test]' > $(PIP_LOG) 2>&1 || (cat $(PIP_LOG); exit 1)
	touch $(TEST_STAMP)

test demo soak bench vectors: export MESHPANTRY_NETWORK := loopback

run: $(RUN_STAMP)
	$(BIN)/meshpantry tui

demo: $(RUN_STAMP)
	$(BIN)/meshpantry tui --demo

# Tests of one file share fixtures (a mesh of node processes) and run in
# order on one worker; files are spread over two workers.
test: $(TEST_STAMP) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

# The recipe book's browser test renders the page in Debian's headless
# Chromium (tests/cli/test_book_browser.py). When it is missing, it is
# installed where that needs no password (root, or sudo without one);
# otherwise the test is skipped, saying so.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	! command -v apt-get >/dev/null 2>&1 || { \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO="sudo -n"; \
	  { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
	    >/dev/null 2>&1 || \
	  echo "chromium could not be installed without a password; the browser test will be skipped (sudo apt-get install chromium)" >&2; }

soak: $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	$(BIN)/python -m pytest -q -m slow -p no:randomly

bench: $(RUN_STAMP)
	$(BIN)/python -m simulations.bench all

vectors: $(RUN_STAMP)
	$(BIN)/python -m protocol.make_vectors

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
