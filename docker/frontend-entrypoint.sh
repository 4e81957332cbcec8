#!/bin/sh
# The frontend's entrypoint: renders nginx.conf from the environment and execs nginx in the
# foreground (daemon off is in the template), so nginx is PID 1 and gets `docker stop`'s
# SIGQUIT (the image's STOPSIGNAL: graceful, workers send `died`). RABBIT_HOST and the other
# settings are read by the Lua code from the environment, which the rendered config
# whitelists; RABBIT_PWD_FILE, when set, fills RABBIT_PWD from a file (the compose file's
# generated broker password). The error log goes to stderr (docker logs); the access log is
# off unless ACCESS_LOG names a path (/dev/stdout for docker logs).
set -eu
if [ -n "${RABBIT_PWD_FILE:-}" ]; then
	RABBIT_PWD="$(head -n 1 "$RABBIT_PWD_FILE" | tr -d '\r\n')"
	export RABBIT_PWD
	unset RABBIT_PWD_FILE
fi
prefix=/var/lib/funcatron/nginx
bash /opt/funcatron/scripts/render-nginx.sh --prefix "$prefix" \
	--listen "0.0.0.0:${PORT:-8080}" --workers "${WORKERS:-auto}" \
	--lua-lib /opt/funcatron/frontend-lua/lib --access-log "${ACCESS_LOG:-off}" \
	--log-level "${LOG_LEVEL:-warn}" --out "$prefix/nginx.conf"
ln -sf /dev/stderr "$prefix/logs/error.log"
exec nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
