# ns Makefile. `make test` is what CI runs (via .ci/run); `make run` starts a node.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GO      ?= go
BIN     := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
LDFLAGS := -X github.com/nothingshared/ns/internal/buildinfo.Version=$(VERSION) \
           -X github.com/nothingshared/ns/internal/buildinfo.Commit=$(COMMIT)

# Pinned tool versions. Each is installed into ./bin by `make tools` with its own
# `go install pkg@version`, and stamped so a second run is free.
STATICCHECK_VERSION := 2026.1.2
STATICCHECK_MOD     := honnef.co/go/tools/cmd/staticcheck@v0.8.2

PKGS := ./...

.PHONY: all build test unit fmt-check vet lint tools bench tidy-check clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" $(PKGS)

## test: everything that must pass before a change lands.
test: fmt-check vet tidy-check lint unit

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

lint: $(BIN)/staticcheck
	$(BIN)/staticcheck $(PKGS)

tidy-check:
	@cp go.mod /tmp/ns.go.mod.bak; cp go.sum /tmp/ns.go.sum.bak 2>/dev/null || true; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then \
		echo "go mod tidy changed go.mod/go.sum:"; git --no-pager diff -- go.mod go.sum; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## tools: pinned tools into ./bin (cached: a stamp per version).
tools: $(BIN)/staticcheck

$(BIN)/staticcheck: $(BIN)/.staticcheck-$(STATICCHECK_VERSION)
	@true
$(BIN)/.staticcheck-$(STATICCHECK_VERSION):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install $(STATICCHECK_MOD)
	@touch $@

clean:
	rm -rf $(BIN) dist
