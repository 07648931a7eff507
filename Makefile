# Sightline: `make demo` runs the main job, `make test` runs the tests. Both install and start what is
# missing (infra/stack up), idempotently; what is slow to build is cached under $(SIGHTLINE_CACHE).

SHELL := /bin/bash
export SIGHTLINE_CACHE ?= $(HOME)/.cache/sightline
export CARGO_TARGET_DIR ?= $(SIGHTLINE_CACHE)/target
STACK := infra/stack
BIN := $(CARGO_TARGET_DIR)/debug
RELEASE_BIN := $(CARGO_TARGET_DIR)/release
# Loads the stack's endpoints (SIGHTLINE_KAFKA_BROKERS, SIGHTLINE_CLICKHOUSE_URL, ...) into a recipe.
WITH_STACK_ENV = set -a && eval "$$($(STACK) env)" && set +a &&
# Exports the prepared models' directory (infra/models verifies the cached copy in well under a second).
WITH_MODELS = export SIGHTLINE_MODELS_DIR="$$(infra/models)" &&

.PHONY: help stack down status models build test test-rust test-python demo bench-writer bench-ingest bench-media bench-match bench-alert bench-query bench-cluster bench-privacy lint fmt clean-data openapi

help:
	@echo "make demo          bring the stack up, ingest the test video over RTSP, land events in ClickHouse"
	@echo "make test          bring the stack up and run every test on the real servers"
	@echo "make bench-writer  writer throughput against a bare consume/insert ceiling and a Python peer"
	@echo "make bench-ingest  ingest frames/s (decode, detect, track, emit) against raw ONNX Runtime"
	@echo "make bench-media   clips' and live views' CPU cost against analysis alone, time to a playable clip, bytes per camera-hour"
	@echo "make bench-match   watchlist search against FAISS, descriptor extraction against raw ONNX Runtime"
	@echo "make bench-alert   frame where a watchlisted face appears to webhook received, early reports against track end"
	@echo "make bench-query   every analyst endpoint at 1M and 10M generated tracks, through the service and straight in ClickHouse"
	@echo "make bench-cluster the writer and the analyst reads on the 2x2 ClickHouse cluster against one server"
	@echo "make bench-privacy ingest, enrich and the writer sealed against clear; erasing a person at 1M and 10M tracks"
	@echo "make models        fetch, convert, verify and cache the ONNX models and test images"
	@echo "make lint          rustfmt and clippy, warnings as errors; the web app's ESLint and Prettier"
	@echo "make openapi       write the REST APIs' OpenAPI documents, generated from the code, to schemas/openapi/"
	@echo "make stack|status|down  manage the local stack (infra/stack)"

stack:
	$(STACK) up

status:
	$(STACK) status

down:
	$(STACK) down

models:
	infra/models

# The documents are kept so the web app's API client can take its types from them; a unit test of
# each service fails while its kept document is not the one its code generates.
openapi:
	SIGHTLINE_WRITE_OPENAPI=1 cargo test --lib -p sightline-ingest -p sightline-enrich -p sightline-query \
		-p sightline-notifier -p sightline-scheduler -- kept_openapi_document

build:
	$(STACK) deps
	cargo build --workspace --bins --tests
	infra/web build >/dev/null

test: stack models build
	$(MAKE) --no-print-directory test-rust test-python

test-rust:
	$(STACK) prune-tests
	$(WITH_STACK_ENV) $(WITH_MODELS) cargo test --workspace --no-fail-fast -- --test-threads=2

test-python:
	$(WITH_STACK_ENV) "$$SIGHTLINE_VENV/bin/python" -m pytest -q tests/python

demo: stack models
	$(STACK) deps
	cargo build --bins
	$(WITH_STACK_ENV) $(WITH_MODELS) tests/demo.sh

bench-writer: stack
	cargo build --release -p sightline-writer --benches
	$(WITH_STACK_ENV) writer/bench/run.sh

# The services run as release builds, as in production; the receiver and timing live in the bench.
bench-alert: stack models
	$(STACK) deps
	cargo build --release --bins
	$(WITH_STACK_ENV) $(WITH_MODELS) cargo bench -q -p sightline-testkit --bench alert_latency

# BENCH_TRACKS (default 1000000,10000000) picks the sizes; each dataset is generated once into its own
# database (sightline_bench_query_<N>) and kept for the next run.
# BENCH_EVENTS (default 20000), BENCH_ROUNDS (3), BENCH_SAMPLES (20), BENCH_SECONDS (10).
bench-cluster: stack
	cargo build --release -p sightline-writer -p sightline-query --bins
	$(WITH_STACK_ENV) cargo bench -q -p sightline-testkit --bench cluster

bench-query: stack
	$(STACK) deps
	cargo build --release -p sightline-query --bins
	$(WITH_STACK_ENV) cargo bench -q -p sightline-testkit --bench query_latency

# BENCH_TRACKS (default 1000000,10000000) picks the erasure's sizes; BENCH_EVENTS and BENCH_ROUNDS the
# hot path's. Ingest and enrich run as their release-built services.
bench-privacy: stack models
	$(STACK) deps
	cargo build --release -p sightline-ingest -p sightline-enrich --bins
	$(WITH_STACK_ENV) $(WITH_MODELS) cargo bench -q -p sightline-testkit --bench privacy_cost

bench-ingest: stack models
	$(WITH_STACK_ENV) $(WITH_MODELS) cargo bench -q -p sightline-ingest --bench ingest_throughput

bench-media: stack models build
	$(WITH_STACK_ENV) $(WITH_MODELS) cargo bench -q -p sightline-ingest --bench media

bench-match: stack models
	$(WITH_STACK_ENV) $(WITH_MODELS) cargo bench -q -p sightline-enrich --bench match_throughput

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	infra/web lint

fmt:
	cargo fmt --all

clean-data:
	$(STACK) reset
