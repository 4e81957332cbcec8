#!/bin/sh
# Renders nginx.conf from the environment and runs nginx in the foreground (daemon off is
# in the template). RABBIT_HOST and the other settings are read by the Lua code from the
# environment, which the rendered config whitelists.
set -e
prefix=/var/lib/funcatron/nginx
bash /opt/funcatron/scripts/render-nginx.sh --prefix "$prefix" \
    --listen "0.0.0.0:${PORT:-80}" --workers "${WORKERS:-auto}" \
    --lua-lib /opt/funcatron/frontend-lua/lib --access-log off --log-level warn \
    --out "$prefix/nginx.conf"
exec nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
