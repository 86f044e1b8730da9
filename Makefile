# meshlab build, test and lab targets. `make help` lists them.
GO        ?= go
BIN       ?= bin/meshlab
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
PKGS      := ./...
STATICCHECK_VERSION ?= v0.8.2
# The offline bundle (built from pinned source, cached by version under $MESHLAB_CACHE) and the
# local lab `make up` boots when no machines are given.
BUNDLE_DIR ?= _output/bundle
LAB       ?= meshlab
LAB_HOSTS ?= _output/$(LAB)-hosts.yaml
# Where `make up` gets its bundle: auto builds the online one (upstream releases and images,
# digests checked) when every upstream host answers a short probe, else from source, saying
# which and why; online or source skip the probe.
BUNDLE_SOURCE ?= auto

.PHONY: help deps build test unit lint bench fuzz bundle peers up down fresh fresh-test vagrant-lab clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install the Debian packages the lab and the tests use (root; no-op when installed)
	tools/install-deps.sh

build: ## build bin/meshlab, bin/meshlab-proxy (the slim sidecar the meshlab image carries) and bin/meshlab-graphviz (draws mesh graph pictures); all static
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/meshlab
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(dir $(BIN))meshlab-proxy ./cmd/meshlab-proxy
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(dir $(BIN))meshlab-graphviz ./cmd/meshlab-graphviz

test: deps build bundle peers ## every test: unit, integration (real sshd, netns, iptables) and e2e; run as root
	MESHLAB_BUNDLE=$(abspath $(BUNDLE_DIR)) tools/gotest.sh -count=1 -timeout 75m $(PKGS)
	@# The benchmark's own module: its tables, configs, load shapes and lab lock (the benchmark
	@# itself is `make bench`, minutes of load, and is left out here rather than skipped).
	cd mesh/bench && TEST_LOG=$(abspath _output/test-bench.log) ../../tools/gotest.sh -count=1 -skip '^TestDataPlaneBenchmark$$' .

unit: ## fast tests only (no root needed; root-only tests skip with a reason)
	$(GO) test -short -count=1 $(PKGS)

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

bench: build ## benchmarks that print tables: SSH overhead, fan-out, telemetry, and the proxy vs HAProxy under two load shapes (root, ~8 min)
	$(GO) test -run '^$$' -bench . -benchtime 3s ./provision/transport/ ./mesh/telemetry/ ./mesh/proxy/
	$(GO) test -run '^$$' -bench BenchmarkUpSample -benchtime 1x ./cmd/meshlab/
	$(GO) test -run '^$$' -bench BenchmarkSignCSR -benchtime 3s ./mesh/ca/
	$(GO) test -run '^$$' -bench 'BenchmarkPushToThousandProxies|BenchmarkPushDuringRotation' -benchtime 3x ./mesh/pilot/server/
	cd mesh/bench && MESHLAB_BIN=$(abspath $(BIN)) MESHLAB_PROXY_BIN=$(abspath $(dir $(BIN))meshlab-proxy) $(GO) test -count=1 -timeout 30m -run '^TestDataPlaneBenchmark$$' -v .

bundle: ## the offline bundle from pinned source into $(BUNDLE_DIR) (cached by version; cold: tens of minutes)
	tools/k8sbuild/build.sh $(BUNDLE_DIR)

peers: ## real test peers built from pinned modules (Jaeger), cached by version
	tools/testpeers/build.sh

up: deps build ## boot a local 3-machine lab and run `meshlab up` on it from a bundle (online if the upstream hosts answer, else from source; BUNDLE_SOURCE=auto|online|source): cluster, mesh, addons, Bookinfo, verify (root)
ifeq ($(BUNDLE_SOURCE),source)
	tools/k8sbuild/build.sh $(BUNDLE_DIR)
else ifeq ($(BUNDLE_SOURCE),online)
	$(BIN) cluster bundle build --out $(BUNDLE_DIR)
else
	$(BIN) cluster bundle build --fallback-from-source --source-dir tools/k8sbuild --out $(BUNDLE_DIR)
endif
	$(BIN) lab create --name $(LAB) --nodes 3 --control-planes 1 --out $(LAB_HOSTS)
	$(BIN) up --hosts $(LAB_HOSTS) --bundle $(BUNDLE_DIR)

down: build ## undo `make up`: reset the lab's hosts and destroy the local machines
	-$(BIN) down --yes --hosts $(LAB_HOSTS) --playbook kubernetes
	$(BIN) lab destroy --name $(LAB)

fresh: ## rehearse `make up` on a fresh machine: empty Go/npm/meshlab caches and lab state in a temp dir, stage times as a table, nothing left behind (root, ~25 min)
	tools/fresh-check.sh up

fresh-test: ## the same for `make test` (.ci/run's command) from empty caches (root)
	tools/fresh-check.sh test

fuzz: ## run each fuzz target for 60 s
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./provision/inventory/
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 60s ./mesh/telemetry/

vagrant-lab: build ## boot the Vagrant lab (1 control plane + 2 workers, Ubuntu 24.04) and run `meshlab up` on it
	$(MAKE) -C vagrant lab

clean: ## remove build outputs
	rm -rf bin _out
