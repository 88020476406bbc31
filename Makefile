# Switchboard. `make` prints this help; `make run` and `make test` are the
# two commands a newcomer needs.
SHELL := /bin/bash
GO ?= go
BIN := bin/switchboard
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 60s
PKGS := ./...

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/switchboard
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/switchboard

.PHONY: run
run: build ## Serve config.example.yaml on 127.0.0.1:8080 (sim channels, SQLite in ./data)
	./$(BIN) serve --config config.example.yaml

PEERS := tools/peers/node_modules/.package-lock.json

# Twilio's OpenAPI spec, which Prism serves, comes from the npm package
# @twilio-alpha/mcp (MIT), pinned by version and by the file's sha256. Only the
# one file is extracted: the package's own dependencies are not needed.
TWILIO_MCP := @twilio-alpha/mcp@0.7.0
TWILIO_SPEC := tools/peers/twilio-oai/twilio_api_v2010.json
TWILIO_SPEC_SHA256 := 475b69553e34e797af05d34679cdad3bc3b8b4b8b92e6ac044fa6ebc255bf052

.PHONY: peers
peers: $(PEERS) $(TWILIO_SPEC) ## Install the npm test peers (Prism, maildev, telegram-test-api) and Twilio's OpenAPI spec

$(TWILIO_SPEC): Makefile
	@command -v npm >/dev/null || { echo "installing nodejs and npm (apt)"; apt-get update -qq && apt-get install -y -qq nodejs npm; }
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		echo "fetching Twilio's OpenAPI spec ($(TWILIO_MCP), npm pack)"; \
		npm pack $(TWILIO_MCP) --pack-destination "$$tmp" --silent >/dev/null; \
		tar -xzf "$$tmp"/*.tgz -C "$$tmp" package/twilio-oai/spec/json/twilio_api_v2010.json; \
		echo "$(TWILIO_SPEC_SHA256)  $$tmp/package/twilio-oai/spec/json/twilio_api_v2010.json" | sha256sum -c --quiet; \
		mkdir -p $(dir $@); mv "$$tmp/package/twilio-oai/spec/json/twilio_api_v2010.json" $@; touch $@

$(PEERS): tools/peers/package.json tools/peers/package-lock.json
	@command -v npm >/dev/null || { echo "installing nodejs and npm (apt)"; apt-get update -qq && apt-get install -y -qq nodejs npm; }
	npm ci --prefix tools/peers --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: postgres
postgres: ## Install the PostgreSQL server binaries the store tests start (apt)
	@if command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; else \
		echo "installing postgresql (apt)"; apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; fi

.PHONY: chromium
chromium: ## Install the chromium browser the dashboard test drives (apt)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
		echo "installing chromium (apt)"; apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

.PHONY: test
test: peers postgres chromium ## Vet, unit, integration, end-to-end, crash and short fuzz tests
	$(GO) vet $(PKGS)
	@# Not `tee /dev/stderr`: when stderr is a file, tee reopens it and truncates the log.
	@out="$$(gofmt -l .)"; test -z "$$out" || { echo "$$out"; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) test -count=1 -timeout 12m $(PKGS)
	@# The race run skips the browser test and the 1000-item batch: both run
	@# above without -race, and under it the batch's thousand durable inserts
	@# can outlast the server's 30 s write timeout on a loaded 2-core machine
	@# (smaller batches still run under -race).
	$(GO) test -count=1 -race -timeout 10m -skip 'TestUIBrowser|TestBatchOfAThousand' ./routing/... ./health/... ./channels/... ./api/...
	$(MAKE) --no-print-directory fuzz FUZZTIME=4s

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSendRequest$$' -fuzztime $(FUZZTIME) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzUISessionCookie$$' -fuzztime $(FUZZTIME) ./api/ui/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config/
	$(GO) test -run '^$$' -fuzz '^FuzzWebhook$$' -fuzztime $(FUZZTIME) ./channels/twilio/
	$(GO) test -run '^$$' -fuzz '^FuzzWebhook$$' -fuzztime $(FUZZTIME) ./channels/whatsappcloud/
	$(GO) test -run '^$$' -fuzz '^FuzzRouteMatcher$$' -fuzztime $(FUZZTIME) ./routing/
	$(GO) test -run '^$$' -fuzz '^FuzzStateMachine$$' -fuzztime $(FUZZTIME) ./routing/

.PHONY: drill
drill: ## Replay every outage scenario in drills/ and check its targets (JSON reports next to them)
	@for f in drills/*.yaml; do echo "== $$f"; $(GO) run ./cmd/switchboard drill --scenario $$f --json $${f%.yaml}.report.json || exit 1; done

.PHONY: bench
bench: postgres ## Load the gateway (SQLite; PostgreSQL with 1 and 3 instances), a bare echo server and a durable-insert floor
	@# store/sqlite includes BenchmarkRecipientLimit (the per-recipient count on 450,000 rows); bench/hotpath BenchmarkAdmission and BenchmarkSendHandlerAdmission (phone number checks)
	$(GO) test -run '^$$' -bench '^Benchmark[^P]' -benchmem -benchtime 3s ./store/sqlite/
	$(GO) test -run '^$$' -bench '^BenchmarkPurge$$' -benchtime 40x ./store/sqlite/
	$(GO) test -run '^$$' -bench '^BenchmarkLifecycleSerial$$' -benchtime 2000x ./store/postgres/
	$(GO) test -run '^$$' -bench . -benchmem ./bench/hotpath/ ./routing/
	$(GO) run ./bench/ingest -duration 10s -connections 64
	$(GO) run ./bench/ingest -only gateway -duration 10s -connections 64 -store postgres
	$(GO) run ./bench/ingest -only gateway -duration 10s -connections 64 -store postgres -instances 3
	$(GO) run ./bench/gwperf

.PHONY: crash
crash: ## Longer crash campaign: SIGKILL mid-flight, restart, account for every message
	SWITCHBOARD_CRASH_ROUNDS=5 SWITCHBOARD_CRASH_MESSAGES=5000 $(GO) test -count=1 -run TestCrash -timeout 30m -v ./e2e/

.PHONY: faults
faults: ## Fault campaign (SQLite kill -9 and full disk, PostgreSQL kill -9 and restart, hung callback receiver, hung provider): rewrites the table in RELIABILITY.md
	SWITCHBOARD_FAULTS=long SWITCHBOARD_FAULTS_REPORT=$(CURDIR)/RELIABILITY.md $(GO) test -count=1 -run '^TestFaults$$' -timeout 30m -v ./e2e/

.PHONY: clean
clean: ## Remove build output and the local database
	rm -rf bin data
