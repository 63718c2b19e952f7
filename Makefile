.PHONY: demo test lint format bench clean cluster cluster-down aegra-venv langgraph-pg-venv

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## demo: run all four modes offline on the bundled K2.5 emulator (or KIMI_BASE_URL if set)
demo: $(STAMP)
	$(BIN)/kimi-graph demo

## test: lint (ruff, mypy --strict), then the whole suite; sockets may only reach loopback
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q --allow-hosts=127.0.0.1,::1,localhost --timeout=300 tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: the benchmarks of benchmarks/ against the emulator
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_chat.py
	$(BIN)/python benchmarks/bench_agent.py
	$(BIN)/python benchmarks/bench_swarm.py
	$(BIN)/python benchmarks/bench_ratelimit.py
	$(BIN)/python benchmarks/bench_serve.py

## cluster: PostgreSQL, Redis, two Aegra instances and HAProxy on loopback (deploy/); prints the URL
## (CLUSTER_ARGS=--emulator serves the bundled emulator as the model)
cluster: $(STAMP)
	$(BIN)/python deploy/cluster.py up $(CLUSTER_ARGS)

cluster-down: $(STAMP)
	$(BIN)/python deploy/cluster.py down

## aegra-venv: Aegra's own venv (Python >= 3.12) at deploy/.venv-aegra, used by the cluster and its tests
aegra-venv: $(STAMP)
	$(BIN)/python -c "import sys; sys.path.insert(0, 'deploy'); import cluster as c; c.build_aegra_venv(c.read_settings())"

## langgraph-pg-venv: langgraph-api on the MIT langgraph-runtime-pg runtime (it pins langgraph-api 0.11.1)
## in a venv of its own, deploy/.venv-langgraph-pg, for the LangGraph Server tests of issue 21
langgraph-pg-venv: $(STAMP)
	$(PYTHON) -m venv deploy/.venv-langgraph-pg
	deploy/.venv-langgraph-pg/bin/pip install --quiet "langgraph-runtime-pg==0.11.1.post1" -e .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
