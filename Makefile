# make verify:    verify the bundled example (examples/fixdemo) with fixproof.toml
# make test:      run the whole test suite, both tiers (tests/unit, then tests/integration; the real apps of
#                 tests/integration/realapps are fetched first with go mod download: make realapps)
# make test-unit: run the unit tier only (no Docker, no Go toolchain, no network; under a minute)
# verify and test do their own setup first, idempotently: system packages, dockerd, venv;
# test-unit needs only the venv.

VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.fixproof-installed

# Without internet, use the Go vulnerability DB snapshot beside the checkout
# when there is one (FIXPROOF_VULNDB overrides fix.db).
SNAPSHOT := $(abspath ../shared/vulndb)
ifneq ($(wildcard $(SNAPSHOT)/index/db.json),)
export FIXPROOF_VULNDB ?= file://$(SNAPSHOT)
endif

.PHONY: setup system engine venv verify test test-unit realapps bench clean

setup: system venv engine

system:
	@bash scripts/setup-system.sh

engine: system
	@bash scripts/ensure-dockerd.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	@$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

verify: setup
	$(BIN)/fixproof verify

test: setup realapps
	$(BIN)/python -m pytest -q tests/unit tests/integration

# the real Go apps of tests/integration/realapps, fetched with go mod download (idempotent)
realapps:
	@bash scripts/fetch-realapps.sh

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/bench_inspect.py
	$(BIN)/python bench/bench_vulns.py

clean:
	rm -rf reports/stages reports/build reports/*.xml reports/*.json reports/.doit.db*
