# Two commands on a fresh clone: `make demo` and `make test`. Each builds .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
export LIFELINE_CONFIG ?= plugins.toml

.PHONY: venv test lint demo demo-wecom demo-weaver bench drill scale-drill airflow postgres-server clean lock

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,airflow,postgres]'
	@rm -f $(VENV)/.installed-*
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The store tests and the drill need a PostgreSQL server binary; they start and stop the server themselves.
postgres-server:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
	  { echo "installing the Debian PostgreSQL server package for the store tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

test: $(STAMP) postgres-server lint
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/lifeline plugins
	$(BIN)/lifeline check --offline
	$(BIN)/lifeline db upgrade
	$(BIN)/lifeline demo $(DEMO_ARGS)

# The same on the WeCom tenant: staff on WeCom, candidates also reached on WeChat (customer contact, the account).
demo-wecom: $(STAMP)
	$(BIN)/lifeline check --offline
	$(BIN)/lifeline demo --tenant sandbox_wecom $(DEMO_ARGS)

# The same on the Weaver tenant: HR approvals and todos in Weaver e-cology (泛微 OA), candidates by SMS and e-mail.
demo-weaver: $(STAMP)
	$(BIN)/lifeline check --offline
	$(BIN)/lifeline demo --tenant sandbox_weaver $(DEMO_ARGS)

# Benchmarks print `name: value` lines; `make bench BENCH_ARGS="--quick"` for a fast run.
bench: $(STAMP)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

# The exactly-once drill: live dispatchers on a throw-away PostgreSQL, killed at random, every sink;
# `make drill BENCH_ARGS=--quick` for fewer runs.
drill: $(STAMP) postgres-server
	$(BIN)/python -m tests.bench $(BENCH_ARGS) drill

# The scale drill: Airflow's CeleryExecutor (3 workers, Redis broker) on a throw-away PostgreSQL, 20 sandbox
# tenants sharing one vendor app's quota through the PostgreSQL rate limiter; `BENCH_ARGS=--quick`: 4 tenants.
scale-drill: $(STAMP) postgres-server
	@command -v redis-server >/dev/null 2>&1 || \
	  { echo "installing the Debian Redis server package for the scale drill"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[scale]'
	$(BIN)/python -m tests.bench.scale_drill $(BENCH_ARGS)

# `airflow standalone` on the sandbox tenant, emulators running and connections set; prints the login.
airflow: $(STAMP)
	$(BIN)/python -m lifeline_hub.core.airflow.standalone

# Rebuild constraints.txt from the current venv after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^lifeline' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
