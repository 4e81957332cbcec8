# Funcatron: the two commands are `make run` and `make test` (README.md).
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/funcatron/funcatron/internal/version.Version=$(VERSION)
# Go tests start private RabbitMQ, Redis and nginx servers; the whole run stays well under
# CI's limit, and a hung test fails at this timeout rather than stalling CI.
GOTEST_FLAGS ?= -race -count=1 -timeout 12m

.PHONY: all deps build samples images test lint check-imports test-go test-lua run bench clean

all: lint build

deps:
	@bash scripts/deps.sh

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

samples:
	@bash scripts/build-samples.sh build/bundles

# The images of docker/ (scripts/images.sh): an install step, before the tests that run them.
# It checks only what images.sh runs (Docker; as root dockerd and debootstrap), not the test
# packages of `deps`, so a user with Docker and Go can build them; `make test` runs `deps` first.
images:
	@bash scripts/deps.sh images
	@VERSION=$(VERSION) bash scripts/images.sh

test: deps images lint test-lua test-go

lint: check-imports
	@echo "+ gofmt"; out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@echo "+ go vet"; $(GO) vet ./...

# The wire format and the bus API must stay free of I/O and of the AMQP client.
check-imports:
	@echo "+ check-imports"
	@for p in ./internal/protocol ./internal/bus; do \
		if $(GO) list -deps $$p | grep -q amqp091; then echo "$$p must not import the AMQP client"; exit 1; fi; \
	done

test-go:
	@echo "+ go test"; $(GO) test $(GOTEST_FLAGS) ./...

test-lua:
	@if ls frontend-lua/spec/*_spec.lua >/dev/null 2>&1; then echo "+ busted"; cd frontend-lua && busted; else echo "+ busted: no Lua specs yet"; fi

run: deps build samples
	@bash scripts/run.sh

bench: deps build samples
	@bash scripts/bench.sh

clean:
	rm -rf bin build .run
