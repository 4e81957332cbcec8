#!/usr/bin/env bash
# bench.sh: `make bench` (spec/testing.md "Benchmarks"). Runs the Go program in bench/ with the
# binaries in bin/ and the samples in build/bundles (`make bench` builds both first): it starts
# its own servers on loopback, prints one table and writes bench/results/latest.json.
# Extra arguments go to the program, e.g. `bash scripts/bench.sh --duration 5s` (see -h).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench --bin bin --samples build/bundles --out bench/results/latest.json "$@"
