# Vinculo: every target sets up what it needs; `make demo` and `make test` are
# all a fresh machine with Python 3.11 requires.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install proto test test-durations lint lint-proto check demo up model bench bench-quick clean

# Reinstalls when the packaging or the API changes; the install generates vinculo/v1/.
$(STAMP): pyproject.toml setup.py $(wildcard protos/vinculo/v1/*.proto) protos/generate.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cli,dev,plots,bench]'
	touch $(STAMP)

install: $(STAMP)

## Regenerate the gRPC/protobuf code from protos/ (pip install does it too).
proto: $(STAMP)
	$(BIN)/python protos/generate.py

## The whole suite: unit, model and integration tests against real processes, in eight
## workers: measured, the integration tests leave the two cores 60-80% idle at five
## workers (they wait on real processes); every port is port 0. Longest tests first
## (tests/scheduling.py). Bytecode is written (__pycache__, git-ignored) even where the
## environment says not to: each of the ~190 service processes a run starts would
## otherwise compile the project's modules again.
TEST_ENV = PYTHONDONTWRITEBYTECODE=
PACKAGES = vinculo ingest_service scoring_service vinculo_apps bench tests
test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m compileall -q -j 0 $(PACKAGES)
	$(TEST_ENV) $(BIN)/python -m pytest -q -n 8 --dist loadgroup --no-loadscope-reorder

## Measure every test's seconds and rewrite tests/durations.json (the order of `make test`).
test-durations: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -q -n 8 --dist loadgroup --no-loadscope-reorder \
		--write-durations tests/durations.json

lint: $(STAMP) lint-proto
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## buf's STANDARD lint rules on the API (buf comes from the npm registry, pinned).
BUF_VERSION := 1.75.0
lint-proto:
	cd protos && npx --yes @bufbuild/buf@$(BUF_VERSION) lint

check: lint test

## Start the broker and both services on the default ports until Ctrl-C.
up: $(STAMP)
	$(BIN)/vinculo up

## The first-run experience: the stack, a generated network, rankings, then stop.
demo: $(STAMP)
	$(BIN)/vinculo demo

## Rebuild the shipped default model from the real data in ../shared/datasets.
model: $(STAMP)
	$(BIN)/python -m vinculo_apps.training.build_default

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.security
	$(BIN)/python -m bench.scale_out

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf $(VENV) .data build *.egg-info vinculo/v1
