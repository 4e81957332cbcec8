# The frontend: nginx with the Lua module and Funcatron's Lua code. `make images` builds it
# (from the repository root):
#   docker build -f docker/frontend.Dockerfile -t funcatron/frontend .
# Configuration comes from the environment of spec/frontend.md (RABBIT_HOST, RABBIT_PORT,
# RABBIT_USER, RABBIT_PWD or RABBIT_PWD_FILE, RABBIT_VHOST, TRON_QUEUE, INSTANCEID,
# FUNCATRON_TIMEOUT, ...), plus WORKERS (worker_processes, default auto), PORT (default 8080),
# LOG_LEVEL (warn) and ACCESS_LOG (off). Runs as uid 10002, so it listens on 8080, not 80.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        nginx libnginx-mod-http-lua lua-cjson \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10002 funcatron \
    && useradd --system --uid 10002 --gid funcatron --home-dir /var/lib/funcatron funcatron \
    && install -d -o funcatron -g funcatron /var/lib/funcatron /var/lib/funcatron/nginx
COPY frontend-lua/lib /opt/funcatron/frontend-lua/lib
COPY nginx /opt/funcatron/nginx
COPY scripts/render-nginx.sh /opt/funcatron/scripts/render-nginx.sh
COPY docker/frontend-entrypoint.sh docker/healthz.sh /opt/funcatron/
USER 10002
EXPOSE 8080
# SIGQUIT is nginx's graceful stop: workers finish their requests and say `died` to the Tron.
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/bin/sh", "-c", "/opt/funcatron/healthz.sh \"${PORT:-8080}\" /__funcatron/health"]
ENTRYPOINT ["/opt/funcatron/frontend-entrypoint.sh"]
