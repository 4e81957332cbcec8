# The Tron: control plane and admin API. `make images` builds it (from the repository root,
# after building the static Go binaries into build/docker/):
#   docker build -f docker/tron.Dockerfile -t funcatron/tron .
# Every option is an environment variable (`tron --help`); it logs to stderr (docker logs) and
# stops on SIGTERM. Runs as uid 10001. The CLI (`funcatron`) is in the image too. Mount a volume on
# FUNCATRON_DATA_DIR (the bundle store and state; the compose file's tron-data): no VOLUME
# line here, or every container of the image (the compose file's secrets step too) would get
# an anonymous volume that outlives it.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 funcatron \
    && useradd --system --uid 10001 --gid funcatron --home-dir /var/lib/funcatron funcatron \
    && install -d -o funcatron -g funcatron /var/lib/funcatron /var/lib/funcatron/tron
COPY docker/entrypoint.sh docker/healthz.sh docker/init-secrets.sh /opt/funcatron/
COPY build/docker/tron build/docker/funcatron /usr/local/bin/
USER 10001
# Listen on every interface inside the container; runners download bundles from
# FUNCATRON_ADVERTISE (the name they reach this container by: tron:3000 in the compose file).
ENV FUNCATRON_LISTEN=0.0.0.0:3000 \
    FUNCATRON_DATA_DIR=/var/lib/funcatron/tron
EXPOSE 3000
HEALTHCHECK --interval=2s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/opt/funcatron/healthz.sh", "3000", "/healthz"]
ENTRYPOINT ["/opt/funcatron/entrypoint.sh", "tron"]
