# RabbitMQ for the compose file and the tests: Debian's rabbitmq-server with the STOMP plugin
# (the frontends speak STOMP), built from debian:bookworm-slim like our own images because no
# registry may be reachable. `make images` builds it:
#   docker build -f docker/rabbitmq.Dockerfile -t funcatron/rabbitmq .
# Runs as uid 10003 (user rabbitmq), logs to stdout, stops cleanly on SIGTERM. Its data
# (users, durable queues) is /var/lib/rabbitmq: a volume, so a restarted container keeps them.
# HOME is where Erlang reads its cookie: the compose file's secrets volume (init-secrets.sh),
# shared with the broker-users step that runs rabbitmqctl against this node.
FROM debian:bookworm-slim
RUN groupadd --system --gid 10003 rabbitmq \
    && useradd --system --uid 10003 --gid rabbitmq --home-dir /var/lib/rabbitmq rabbitmq \
    && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update && apt-get install -y --no-install-recommends rabbitmq-server \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /var/lib/rabbitmq/* /var/log/rabbitmq/* \
    && install -d -o rabbitmq -g rabbitmq -m 0750 /var/lib/rabbitmq
COPY docker/rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
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
# An open AMQP port means the node has booted (cheaper than starting rabbitmq-diagnostics).
HEALTHCHECK --interval=3s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/5672 && exec 4<>/dev/tcp/127.0.0.1/61613"]
ENTRYPOINT ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
