# hooktail — see README.md. Every target works on a fresh clone with Go and gcc.
GO      ?= go
BIN     := $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PROTOC_GEN := $(BIN)/tools

.PHONY: all build test test-short e2e screenshots demo bench bench-e2e proto proto-check vet fmt-check clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/hooktail-agent ./agent/cmd/hooktail-agent
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/hooktail-aggregator ./aggregator/cmd/hooktail-aggregator
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/hooktail-logwriter ./examples/logwriter/cmd/hooktail-logwriter
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/hooktail-demo ./examples/demo
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(BIN)/example-plugin ./examples/example-plugin

# The whole suite with the race detector; the end-to-end tests run the
# binaries built above, and the browser tests headless Chromium, which
# must be there (HOOKTAIL_REQUIRE_BROWSER=1: a missing browser fails them
# instead of skipping them; HOOKTAIL_CHROMIUM names another binary).
test: build vet
	HOOKTAIL_BIN=$(BIN) HOOKTAIL_REQUIRE_BROWSER=1 $(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -short ./...

# Only the end-to-end tests (real binaries on 127.0.0.1).
e2e: build
	HOOKTAIL_BIN=$(BIN) $(GO) test -count=1 -v -run . ./examples/e2e/

# Full-page screenshots of the web page (deliveries, a failed delivery,
# the live tail) over real ingested logs, from the browser test.
screenshots: build
	HOOKTAIL_BIN=$(BIN) HOOKTAIL_REQUIRE_BROWSER=1 HOOKTAIL_SCREENSHOTS=$(CURDIR)/aggregator/webui/screenshots \
		$(GO) test -count=1 -v -run '^TestWebPage$$' ./examples/e2e/

demo: build
	$(BIN)/hooktail-demo -bin $(BIN) -examples $(CURDIR)/examples -dir $(CURDIR)/.demo

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

# End-to-end throughput and query latency (see BENCHMARKS.md).
bench-e2e: build
	HOOKTAIL_BIN=$(BIN) HOOKTAIL_BENCH_E2E=1 $(GO) test -count=1 -v -timeout 60m -run 'TestBenchEndToEnd|TestBenchAgentFiles|TestBenchRotationStorm|TestBenchLiveTailLatency|TestBenchWebPage100k' ./examples/e2e/

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

$(PROTOC_GEN)/protoc-gen-go $(PROTOC_GEN)/protoc-gen-go-grpc: go.mod
	$(GO) build -o $(PROTOC_GEN)/ google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc

# Regenerate the protobuf code (protoc from Debian's protobuf-compiler; the
# Go generators are pinned in go.mod as tools).
proto: $(PROTOC_GEN)/protoc-gen-go $(PROTOC_GEN)/protoc-gen-go-grpc
	PATH=$(PROTOC_GEN):$$PATH protoc -I proto \
		--go_out=proto --go_opt=paths=source_relative \
		--go-grpc_out=proto --go-grpc_opt=paths=source_relative \
		proto/hooktail/v1/*.proto

# Fails when the committed generated code is not what `make proto` makes.
proto-check: proto
	@git diff --exit-code -- proto/ || { echo "generated protobuf code is stale: run 'make proto' and commit"; exit 1; }

clean:
	rm -rf $(BIN) .demo
