# RabbitMQ for the compose file and the tests: Debian's rabbitmq-server with the STOMP plugin
# (the frontends speak STOMP), built from debian:bookworm-slim like our own images because no
# registry may be reachable. `make images` builds it:
#   docker build -f docker/rabbitmq.Dockerfile -t funcatron/rabbitmq .
# Runs as uid 10003 (user rabbitmq), logs to stdout, stops cleanly on SIGTERM. Its data
# (users, durable queues) is /var/lib/rabbitmq: a volume, so a restarted container keeps them.
# No Erlang cookie in the image (the package's postinst made one: it is removed, else every
# container of this image would share it): the node makes a random one in the volume on first
# start, and the compose file's broker-users step mounts the same volume to run rabbitmqctl.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10003 rabbitmq \
    && useradd --system --uid 10003 --gid rabbitmq --home-dir /var/lib/rabbitmq rabbitmq \
    && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update && apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /var/log/rabbitmq/* \
    && rm -rf /var/lib/rabbitmq \
    && install -d -o rabbitmq -g rabbitmq -m 0750 /var/lib/rabbitmq
COPY docker/rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
COPY docker/rabbitmq-advanced.config /etc/rabbitmq/advanced.config
COPY docker/healthz.sh /opt/funcatron/
COPY scripts/broker-users.sh /opt/funcatron/scripts/broker-users.sh
RUN echo '[rabbitmq_stomp].' >/etc/rabbitmq/enabled_plugins
USER 10003
ENV RABBITMQ_MNESIA_BASE=/var/lib/rabbitmq/mnesia \
    RABBITMQ_LOG_BASE=/var/lib/rabbitmq/log \
    RABBITMQ_PID_FILE=/var/lib/rabbitmq/rabbit.pid \
    HOME=/var/lib/rabbitmq
VOLUME /var/lib/rabbitmq
EXPOSE 5672 61613
# Healthy once AMQP (5672 = 0x1628) and STOMP (61613 = 0xF0AD) listen: the node has booted.
# Read from /proc (state 0A = LISTEN): cheaper than starting rabbitmq-diagnostics, and no
# connection, so nothing in the broker's log every few seconds.
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/bin/sh", "-c", "t=$(cat /proc/net/tcp /proc/net/tcp6); echo \"$t\" | grep -q ':1628 [0-9A-F:]* 0A' && echo \"$t\" | grep -q ':F0AD [0-9A-F:]* 0A'"]
ENTRYPOINT ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
