# BuildIt — common tasks. `make test` is what CI runs (through .ci/run).
GO      ?= go
BIN     ?= bin/buildit
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKGS    ?= ./...

.PHONY: build test security race lint bench fuzz generate check-generated clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/buildit

test:
	$(GO) test -count=1 $(PKGS)

# The security suite alone: every attack of SECURITY.md, kept as a test
# named TestSecurity* beside the code it attacks (make test runs them too).
security:
	$(GO) test -count=1 -run '^TestSecurity' $(PKGS)

# The race detector on the packages with their own concurrency that build
# without the Temporal server (instrumenting it would rebuild the world):
# about 2.5 minutes from a cold build cache.
RACE_PKGS ?= ./api/... ./db/... ./deploy/... ./executor/host ./kdl ./pipeline ./runlog
race:
	$(GO) test -race -count=1 $(RACE_PKGS)

# golangci-lint v2, pinned in tools/go.mod (its own module, so its
# dependencies leave go.mod alone) and built by `go tool` from the module
# proxy: the first run builds it (COLD minutes), later runs reuse the build
# cache. Its checks and the import direction per folder are in .golangci.yml.
GOLANGCI_LINT ?= $(GO) tool -modfile=tools/go.mod golangci-lint

# gofmt, go vet and golangci-lint (see .golangci.yml).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# sqlc, run from the module proxy at a pinned version (not a go.mod
# dependency). The first run builds it with cgo: about 3 minutes on the
# project's machine, then about 2 s from the build cache.
SQLC ?= $(GO) run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1

# Writes db/internal/sqlcdb from db/queries and db/migrations (sqlc.yaml).
generate:
	$(SQLC) generate

# Fails, printing the difference, when db/internal/sqlcdb is not what
# `make generate` would write.
check-generated:
	$(SQLC) diff

# Runs the KDL parser's fuzzer; FUZZTIME=10m for a longer run.
FUZZTIME ?= 2m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./kdl

clean:
	rm -rf bin
