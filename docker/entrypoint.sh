#!/bin/sh
# entrypoint.sh COMMAND [ARGS]: the Tron's and the runner's entrypoint. It only builds
# FUNCATRON_RABBIT_URL when the broker password is in a file, then execs COMMAND, which so is
# PID 1 (it gets SIGTERM from `docker stop`; the runner reaps its bundles' orphans as PID 1):
#   FUNCATRON_RABBIT_USER, FUNCATRON_RABBIT_PASSWORD_FILE, FUNCATRON_RABBIT_ADDR (host:port,
#   default rabbitmq:5672), FUNCATRON_RABBIT_VHOST (default empty: "/")
# → FUNCATRON_RABBIT_URL=amqp://USER:PASSWORD@ADDR/VHOST. The password must be URL-safe
# (the generated ones are letters and digits). Without FUNCATRON_RABBIT_PASSWORD_FILE the
# environment passes through unchanged (set FUNCATRON_RABBIT_URL yourself).
set -eu
if [ -n "${FUNCATRON_RABBIT_PASSWORD_FILE:-}" ]; then
	pw="$(head -n 1 "$FUNCATRON_RABBIT_PASSWORD_FILE" | tr -d '\r\n')"
	[ -n "$pw" ] || { echo "entrypoint: $FUNCATRON_RABBIT_PASSWORD_FILE is empty" >&2; exit 2; }
	FUNCATRON_RABBIT_URL="amqp://${FUNCATRON_RABBIT_USER:?FUNCATRON_RABBIT_USER is not set}:$pw@${FUNCATRON_RABBIT_ADDR:-rabbitmq:5672}/${FUNCATRON_RABBIT_VHOST:-}"
	export FUNCATRON_RABBIT_URL
	unset pw FUNCATRON_RABBIT_USER FUNCATRON_RABBIT_PASSWORD_FILE FUNCATRON_RABBIT_ADDR FUNCATRON_RABBIT_VHOST
fi
exec "$@"
