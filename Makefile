# meshlab build, test and lab targets. `make help` lists them.
GO        ?= go
BIN       ?= bin/meshlab
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
# Packages whose tests need root and real peers (sshd, network namespaces, containerd, runc).
STATICCHECK_VERSION ?= v0.8.2

.PHONY: help build test unit lint bench e2e fuzz lab-up lab-down bundle clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/meshlab (static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/meshlab

test: build ## every test: unit, integration (real sshd, netns, iptables) and e2e; run as root
	$(GO) test -count=1 -timeout 60m $(PKGS)

unit: ## fast tests only (no root needed; root-only tests skip with a reason)
	$(GO) test -short -count=1 $(PKGS)

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

bench: build ## benchmarks that print tables (SSH overhead, playbook fan-out, telemetry)
	$(GO) test -run '^$$' -bench . -benchtime 3s ./provision/... ./mesh/...

fuzz: ## run each fuzz target for 60 s
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./provision/inventory/
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 60s ./mesh/telemetry/

clean: ## remove build outputs
	rm -rf bin _out
