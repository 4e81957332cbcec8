#!/usr/bin/env bash
# run.sh: `make run`. Brings the whole system up on loopback under .run/ (private RabbitMQ
# with STOMP, Redis, the Tron, a runner, the nginx frontend), deploys the sample bundles
# from build/bundles, prints the URLs to try, and stops everything on Ctrl-C.
# Ports: FUNCATRON_RUN_HTTP_PORT for nginx (default 8080), FUNCATRON_RUN_TRON_PORT for the
# Tron's admin API (default 3000), FUNCATRON_RUN_RUNNER_PORT for the first runner's /metrics
# (default 4000, the runner's own default; the next runner +1); 0 picks a free one.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bin/devstack --dir .run --bin bin --samples build/bundles \
	--tron-port "${FUNCATRON_RUN_TRON_PORT:-3000}" --http-port "${FUNCATRON_RUN_HTTP_PORT:-8080}" \
	--runner-port "${FUNCATRON_RUN_RUNNER_PORT:-4000}" "$@"
