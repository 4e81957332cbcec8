# Redis for the compose file (the gilmour and zbus bundle kinds use it): Debian's redis-server,
# built from debian:bookworm-slim like our own images. `make images` builds it:
#   docker build -f docker/redis.Dockerfile -t funcatron/redis .
# Runs as uid 10004, logs to stdout, keeps nothing on disk (no RDB, no AOF), stops on SIGTERM.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10004 redis \
    && useradd --system --uid 10004 --gid redis --home-dir /var/lib/redis redis \
    && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
USER 10004
EXPOSE 6379
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["redis-cli", "ping"]
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", \
    "--appendonly", "no", "--logfile", "", "--daemonize", "no", "--dir", "/tmp"]
