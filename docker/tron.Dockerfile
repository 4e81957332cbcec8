# The Tron: control plane and admin API. Build from the repository root:
#   docker build -f docker/tron.Dockerfile -t funcatron/tron .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ ./cmd/tron ./cmd/funcatron

FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /var/lib/funcatron funcatron
COPY --from=build /out/ /usr/local/bin/
USER funcatron
# Listen on every interface inside the container; runners are told --advertise (set it to
# the name runners reach this container by, e.g. tron:3000 in docker-compose.yml).
ENV FUNCATRON_LISTEN=0.0.0.0:3000 \
    FUNCATRON_DATA_DIR=/var/lib/funcatron/tron
VOLUME /var/lib/funcatron
EXPOSE 3000
ENTRYPOINT ["tron"]
