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
# `go install pkg@version`, outside our module (none is a go.mod tool dependency:
# buf needs a newer protobuf than ours), and stamped so a second run is free.
# protoc-gen-go must match go.mod's google.golang.org/protobuf.
STATICCHECK_VERSION        := v0.8.2
STATICCHECK_PKG            := honnef.co/go/tools/cmd/staticcheck
BUF_VERSION                := v1.75.0
BUF_PKG                    := github.com/bufbuild/buf/cmd/buf
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_PKG          := google.golang.org/protobuf/cmd/protoc-gen-go
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
PROTOC_GEN_GO_GRPC_PKG     := google.golang.org/grpc/cmd/protoc-gen-go-grpc
# protoc-gen-go-vtproto must match go.mod's github.com/planetscale/vtprotobuf
# (the generated *_vtproto.pb.go import its protohelpers package). That is not
# the v0.6.0 tag but the commit after it that google.golang.org/grpc requires
# (minimal version selection picks it), so the plugin is pinned to that too.
PROTOC_GEN_GO_VTPROTO_VERSION := v0.6.1-0.20240319094008-0393e58bdf10
PROTOC_GEN_GO_VTPROTO_PKG     := github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto
GRPC_HEALTH_PROBE_VERSION  := v0.4.62
GRPC_HEALTH_PROBE_PKG      := github.com/grpc-ecosystem/grpc-health-probe
GRPCURL_VERSION            := v1.9.4
GRPCURL_PKG                := github.com/fullstorydev/grpcurl/cmd/grpcurl
HELM_VERSION               := v3.22.0
HELM_PKG                   := helm.sh/helm/v3/cmd/helm

PKGS := ./...

.PHONY: all build test unit fmt-check vet lint tools bench tidy-check clean proto proto-check buf-lint buf-breaking

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" $(PKGS)

## test: everything that must pass before a change lands.
test: fmt-check vet tidy-check proto-check lint unit e2e helm-check

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## unit: every package but e2e, with the race detector.
unit:
	GO=$(GO) scripts/gotest.sh -race -count=1 -timeout 15m $$($(GO) list $(PKGS) | grep -v /e2e)

lint: $(BIN)/staticcheck
	$(BIN)/staticcheck $(PKGS)

tidy-check:
	@cp go.mod /tmp/ns.go.mod.bak; cp go.sum /tmp/ns.go.sum.bak 2>/dev/null || true; \
	$(GO) mod tidy; \
	if ! git diff --quiet -- go.mod go.sum; then \
		echo "go mod tidy changed go.mod/go.sum:"; git --no-pager diff -- go.mod go.sum; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: every fuzz target for FUZZTIME (default 30s) each. `make test` runs
## their seed corpora (f.Add and testdata/fuzz) as ordinary tests; this
## target searches for new inputs. Failing inputs land in testdata/fuzz of
## their package: commit them with the fix.
FUZZTIME ?= 30s
.PHONY: fuzz
RAPID_CHECKS ?= 1000000
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
			echo "fuzz: $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done
	@echo "fuzz: node/internal/owner property tests ($(RAPID_CHECKS) random histories)"
	$(GO) test -count=1 -run '^TestProperty' -rapid.checks=$(RAPID_CHECKS) ./node/internal/owner/

## tools: pinned tools into ./bin (cached: a stamp per version).
TOOLS := staticcheck buf protoc-gen-go protoc-gen-go-grpc protoc-gen-go-vtproto grpc-health-probe grpcurl helm
tools: $(addprefix $(BIN)/,$(TOOLS))

# tool-rule name,version,package: $(BIN)/name is (re)installed when it is
# missing or older than its version stamp $(BIN)/.name-version, i.e. on a fresh
# machine and after a version bump. GOFLAGS=-mod=mod and GOWORK=off keep an
# inherited -mod=vendor or go.work from interfering with `go install pkg@version`.
define tool-rule
$(BIN)/$(1): $(BIN)/.$(1)-$(2)
	cd $(BIN) && GOWORK=off GOFLAGS=-mod=mod GOBIN=$(BIN) $(GO) install $(3)@$(2)
	@touch $$@
$(BIN)/.$(1)-$(2):
	@mkdir -p $(BIN)
	@rm -f $(BIN)/.$(1)-*
	@touch $$@
endef
$(eval $(call tool-rule,staticcheck,$(STATICCHECK_VERSION),$(STATICCHECK_PKG)))
$(eval $(call tool-rule,buf,$(BUF_VERSION),$(BUF_PKG)))
$(eval $(call tool-rule,protoc-gen-go,$(PROTOC_GEN_GO_VERSION),$(PROTOC_GEN_GO_PKG)))
$(eval $(call tool-rule,protoc-gen-go-grpc,$(PROTOC_GEN_GO_GRPC_VERSION),$(PROTOC_GEN_GO_GRPC_PKG)))
$(eval $(call tool-rule,protoc-gen-go-vtproto,$(PROTOC_GEN_GO_VTPROTO_VERSION),$(PROTOC_GEN_GO_VTPROTO_PKG)))
$(eval $(call tool-rule,grpc-health-probe,$(GRPC_HEALTH_PROBE_VERSION),$(GRPC_HEALTH_PROBE_PKG)))
$(eval $(call tool-rule,grpcurl,$(GRPCURL_VERSION),$(GRPCURL_PKG)))
$(eval $(call tool-rule,helm,$(HELM_VERSION),$(HELM_PKG)))

## proto: regenerate proto/ns/v1/*.pb.go from proto/ns/v1/*.proto (buf compiles
## the protos itself; no protoc needed; plugins are the pinned ones in ./bin).
PROTO_TOOLS := $(BIN)/buf $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-go-vtproto
proto: $(PROTO_TOOLS)
	find proto -name '*.pb.go' -delete
	$(BIN)/buf generate

## buf-lint: the protos follow buf's STANDARD rules (buf.yaml).
buf-lint: $(BIN)/buf
	$(BIN)/buf lint

## buf-breaking: no wire-incompatible change (buf's FILE rules) against the
## protos on branch main, read from the local .git (offline). Skipped when there
## is no local main branch (a detached CI checkout); `make BUF_BREAKING_AGAINST=`
## skips it on purpose, for a deliberate break.
BUF_BREAKING_AGAINST ?= .git\#branch=main,subdir=proto
buf-breaking: $(BIN)/buf
	@if [ -z "$(BUF_BREAKING_AGAINST)" ]; then echo "buf-breaking: skipped (BUF_BREAKING_AGAINST is empty)"; \
	elif ! git rev-parse --verify -q refs/heads/main >/dev/null; then echo "buf-breaking: skipped (no local branch main)"; \
	else $(BIN)/buf breaking --against '$(BUF_BREAKING_AGAINST)' && echo "buf-breaking: no breaking change against $(BUF_BREAKING_AGAINST)"; fi

## proto-check: the committed generated code is exactly what `make proto`
## produces (etcd's verify_genproto), and the protos lint clean. It generates
## into a temporary directory and compares, so it never touches the tree and
## also catches a stale .pb.go whose .proto was removed.
proto-check: $(PROTO_TOOLS) buf-lint buf-breaking
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(BIN)/buf generate -o "$$tmp/want"; mkdir -p "$$tmp/want/proto" "$$tmp/have"; \
	(cd proto && find . -name '*.pb.go' -exec cp --parents {} "$$tmp/have/" \;); \
	if ! diff -ru "$$tmp/have" "$$tmp/want/proto"; then \
		echo "proto-check: generated code is stale: run 'make proto' and commit the result"; exit 1; fi; \
	echo "proto-check: generated code is up to date"

clean:
	rm -rf $(BIN) dist

## ---- binaries, a node, a local cluster ----
CMDS := nsnode nsctl
.PHONY: bins run cluster cluster-stop e2e bench-redis
bins:
	@mkdir -p $(BIN)
	$(foreach c,$(CMDS),CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/$(c) ./cmd/$(c) &&) true

## run: a one-node cluster on 127.0.0.1 (gRPC 7700, gossip 7946, admin 7780, Redis 7379).
run: bins
	$(BIN)/nsnode

## cluster: three nodes on loopback (gRPC 7700-7702, gossip 7946-7948,
## admin 7780-7782, Redis 7379-7381) in the background; `make cluster-stop` stops them.
cluster: bins
	scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

## e2e: only the end-to-end tests (real nsnode processes); `make test` runs them too.
e2e:
	GO=$(GO) scripts/gotest.sh -count=1 -timeout 30m ./e2e/...

## sim: N in-process nodes without sockets (package sim, cmd/nssim): time to
## agree on the table after a join, a leave and a crash, gossip traffic and
## CPU per node, partitions moved (docs/scale.md). SIM_N picks the sizes
## (SIM_N=1000 for the big one), SIM_SCALE multiplies memberlist's intervals,
## SIM_FLAGS passes more flags (go run ./cmd/nssim -h).
SIM_N     ?= 10,100
SIM_SCALE ?= 1
SIM_FLAGS ?=
.PHONY: sim
sim:
	$(GO) run ./cmd/nssim -n $(SIM_N) -scale $(SIM_SCALE) $(SIM_FLAGS)

## soak: the randomized fault schedule (e2e TestSoak: five nodes, SIGSTOP,
## SIGKILL, SIGTERM, network partitions) for SOAK_DURATION each run,
## SOAK_RUNS runs in a row with fresh seeds (stops at the first failure);
## SOAK_SEED replays one schedule, SOAK_FAULTS picks the faults. `make test`
## runs it for 60s. Keep node logs with NS_E2E_LOGDIR=dir.
SOAK_DURATION ?= 10m
SOAK_RUNS     ?= 1
.PHONY: soak
soak:
	@for i in $$(seq 1 $(SOAK_RUNS)); do \
		echo "soak: run $$i of $(SOAK_RUNS), $(SOAK_DURATION)"; \
		NS_SOAK_DURATION=$(SOAK_DURATION) NS_SOAK_SEED=$(SOAK_SEED) NS_SOAK_FAULTS=$(SOAK_FAULTS) \
			$(GO) test -count=1 -timeout 90m -run '^TestSoak$$' -v ./e2e/ | grep -v 'harness_test.go:1' || exit 1; \
	done

## ---- deploy: container image, Helm chart, plain manifests (deploy/) ----
IMAGE_NAME      ?= ns
# A Docker tag allows [A-Za-z0-9_.-]: git describe's "+" would not do.
IMAGE_TAG       ?= $(subst +,_,$(VERSION))
IMAGE_STAGE     := dist/image
DOCKERFILE      := deploy/docker/Dockerfile
CHART           := deploy/k8s/ns
CHARTCHECK      := deploy/k8s/chartcheck
# helm built by `go install` assumes Kubernetes v1.20 (no ldflags); say which.
KUBE_VERSION    ?= 1.37.0
.PHONY: image helm-lint helm-check k8s-manifests e2e-container

## image: static nsnode (and nsctl once ./cmd/nsctl exists) for the Docker
## engine's OS/arch, staged in dist/image/ (the whole, tiny build context),
## in a FROM-scratch image tagged $(IMAGE_NAME):$(IMAGE_TAG) and :latest.
image:
	@command -v docker >/dev/null || { echo "image: docker is not installed"; exit 1; }
	rm -rf $(IMAGE_STAGE) && mkdir -p $(IMAGE_STAGE)
	@arch="$$(docker version -f '{{.Server.Arch}}' 2>/dev/null || $(GO) env GOARCH)"; \
	for c in nsnode nsctl; do \
		if [ ! -d cmd/$$c ]; then echo "image: no ./cmd/$$c yet, skipped"; continue; fi; \
		echo "image: building $$c (linux/$$arch, static)"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(IMAGE_STAGE)/$$c ./cmd/$$c; \
	done
	docker build -f $(DOCKERFILE) \
		--build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
		--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
		-t $(IMAGE_NAME):$(IMAGE_TAG) -t $(IMAGE_NAME):latest $(IMAGE_STAGE)
	@echo "image: built $(IMAGE_NAME):$(IMAGE_TAG) and $(IMAGE_NAME):latest"

## helm-lint: the chart lints clean with --strict (values.schema.json included).
helm-lint: $(BIN)/helm
	$(BIN)/helm lint --strict --kube-version $(KUBE_VERSION) $(CHART)

## helm-check: lint, then the chartcheck module (its own go.mod, k8s.io deps
## kept out of ours): renders the chart for a table of values, decodes every
## document strictly into k8s.io/api types, checks selectors, Services, probes,
## flags (against nsnode --help) and security context, and that
## deploy/k8s/manifests/ns.yaml is current. Offline.
helm-check: helm-lint
	cd $(CHARTCHECK) && GOWORK=off $(GO) mod tidy -diff
	cd $(CHARTCHECK) && GOWORK=off $(GO) vet ./...
	cd $(CHARTCHECK) && GOWORK=off HELM=$(BIN)/helm KUBE_VERSION=$(KUBE_VERSION) $(GO) test -count=1 ./...

## k8s-manifests: regenerate deploy/k8s/manifests/ns.yaml from the chart.
k8s-manifests: $(BIN)/helm
	cd $(CHARTCHECK) && GOWORK=off HELM=$(BIN)/helm KUBE_VERSION=$(KUBE_VERSION) $(GO) test -count=1 -run '^TestManifestsInSync$$' ./... -args -update

## e2e-container: only the Docker e2e (3 containers; skipped loudly without docker).
e2e-container:
	$(GO) test -count=1 -timeout 10m -run '^TestContainer' -v ./e2e/

## bench-redis: nsctl bench against a one-node nsnode next to redis-benchmark
## against redis-server on loopback, same clients, pipelining and value size;
## prints both side by side (N=, REPS=, PROFILE=1: see the script's header).
bench-redis: bins
	scripts/bench-vs-redis.sh

## bench-resp: redis-benchmark (set, get, incr; -P 1 and 16) against a
## one-node nsnode over RESP next to redis-server: ops/s, p50/p99 and server
## CPU per op (figures in docs/benchmarks.md).
.PHONY: bench-resp
bench-resp: bins
	scripts/bench-resp.sh

## bench-cpu: server CPU per operation (utime+stime from /proc over each run
## / ops), ops/s, p50/p99 of ns over RESP vs redis-server, SET and GET at
## -P 1 and 16, medians of REPEATS=3 (figures in docs/benchmarks.md).
.PHONY: bench-cpu
bench-cpu: bins
	scripts/bench-cpu.sh

## bench-memory: memory per key (RSS grown by a fill of KEYS=1000000 keys of
## 64 B, and Redis's used_memory) of ns next to redis-server, and the Go GC's
## pauses under load (KEYS=10000000 for the 10M-key figure).
.PHONY: bench-memory
bench-memory: bins
	scripts/bench-memory.sh

## bench-durability: puts per --fsync mode next to redis-server AOF modes,
## and the recovery time of 1 GiB (figures in docs/durability.md).
.PHONY: bench-durability
bench-durability: bins
	scripts/bench-durability.sh

## bench-cluster: KV put/get through the SDK, 1-node and 3-node loopback
## clusters, unbatched, pipelined and batched (figures in docs/benchmarks.md).
.PHONY: bench-cluster
bench-cluster: bins
	scripts/bench-cluster.sh
