#!/usr/bin/env bash
# `make bench-writer`: runs the writer throughput benchmark (writer/benches/writer_throughput.rs) on the
# local stack; expects the stack's environment (`infra/stack env`) to be loaded.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench -q -p sightline-writer --bench writer_throughput
