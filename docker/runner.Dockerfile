# A runner: serves route queues by running Func Bundles. Build from the repository root:
#   docker build -f docker/runner.Dockerfile -t funcatron/runner .
# Bundles run inside this container: derive an image with the runtimes your bundles need
# (python3 is here for the hello-py sample).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ ./cmd/runner

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/funcatron funcatron
COPY --from=build /out/ /usr/local/bin/
USER funcatron
ENV FUNCATRON_LISTEN=0.0.0.0:4000 \
    FUNCATRON_DATA_DIR=/var/lib/funcatron/runner
EXPOSE 4000
ENTRYPOINT ["runner"]
