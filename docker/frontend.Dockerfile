# The frontend: nginx with the Lua module and Funcatron's Lua code. Build from the
# repository root:
#   docker build -f docker/frontend.Dockerfile -t funcatron/frontend .
# Configuration comes from the environment of spec/frontend.md (RABBIT_HOST, RABBIT_PORT,
# RABBIT_USER, RABBIT_PWD, RABBIT_VHOST, TRON_QUEUE, INSTANCEID, FUNCATRON_TIMEOUT, ...),
# plus WORKERS (worker_processes, default auto) and PORT (default 80).
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        nginx libnginx-mod-http-lua lua-cjson gawk \
    && rm -rf /var/lib/apt/lists/*
COPY frontend-lua/lib /opt/funcatron/frontend-lua/lib
COPY nginx /opt/funcatron/nginx
COPY scripts/render-nginx.sh /opt/funcatron/scripts/render-nginx.sh
COPY docker/frontend-entrypoint.sh /opt/funcatron/entrypoint.sh
EXPOSE 80
ENTRYPOINT ["/opt/funcatron/entrypoint.sh"]
