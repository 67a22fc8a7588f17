# Berth — `make demo`, `make test`, `make bench` work on a fresh Debian 12 machine (as root).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo demo-scale test soak bench check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-system
	bash scripts/install-system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# the CLI starts without site (~4 ms) and from bytecode even where PYTHONDONTWRITEBYTECODE is set
	$(BIN)/python scripts/fast-launcher $(VENV)
	$(BIN)/python -m compileall -q src
	touch $@

demo: setup
	bash scripts/demo

# berth-registry at scale on this machine: Ceph's radosgw, PostgreSQL, two replicas, haproxy; torn down after
demo-scale: setup
	$(BIN)/python -m berth.testing.scale

test: setup
	bash scripts/check

soak: setup
	bash scripts/check -m soak

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build src/*.egg-info
