# A runner: serves route queues by running Func Bundles. `make images` builds it (from the
# repository root, after building the static Go binaries into build/docker/):
#   docker build -f docker/runner.Dockerfile -t funcatron/runner .
# Bundles run inside this container, so it holds their runtimes: python3 for the hello-py
# sample (Go bundles are static binaries; shell scripts use /bin/sh). Derive an image of your
# own with what your bundles need.
#
# It runs as root, and only for one reason: it starts each bundle's processes under a uid of
# their own (FUNCATRON_BUNDLE_UIDS, bundles.md §4; 62000-62999 by default, not the
# 61000-61999 of `make run` on the host, whose runners would kill what runs under its uids),
# which needs CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_CHOWN and CAP_DAC_OVERRIDE. It is PID 1
# (no init in between) and reaps the orphans bundles leave behind.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
COPY docker/entrypoint.sh docker/healthz.sh /opt/funcatron/
COPY build/docker/runner /usr/local/bin/
ENV FUNCATRON_LISTEN=0.0.0.0:4000 \
    FUNCATRON_DATA_DIR=/var/lib/funcatron/runner \
    FUNCATRON_BUNDLE_UIDS=62000-62999
EXPOSE 4000
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/opt/funcatron/healthz.sh", "4000", "/healthz"]
ENTRYPOINT ["/opt/funcatron/entrypoint.sh", "runner"]
