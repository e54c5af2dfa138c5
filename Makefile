# BuildIt — common tasks. `make test` is what CI runs (through .ci/run).
GO      ?= go
BIN     ?= bin/buildit
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKGS    ?= ./...

.PHONY: build test testdeps security race race-build lint bench fuzz generate check-generated clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/buildit

# What the tests need besides Go's build cache: versitygw, the S3 server
# the blob store's tests run against, built once outside the clone
# (scripts/versitygw.sh: about 5 minutes the first time, then nothing).
# Its path reaches the tests as BUILDIT_VERSITYGW.
# Gitea, the real forge of the webhook, commit-status and sign-in tests,
# is built the same way (scripts/gitea.sh: 10 to 14 minutes the first
# time), in the background: its tests wait for the binary while the build
# runs, so the build overlaps the compilation and the other tests. Its
# path reaches the tests as BUILDIT_GITEA.
VERSITYGW_SH = scripts/versitygw.sh
GITEA_SH     = scripts/gitea.sh
testdeps:
	@GO="$(GO)" $(GITEA_SH) --background >/dev/null
	@GO="$(GO)" $(VERSITYGW_SH) >/dev/null

export BUILDIT_VERSITYGW ?= $(shell GO="$(GO)" $(VERSITYGW_SH) --path)
export BUILDIT_GITEA ?= $(shell GO="$(GO)" $(GITEA_SH) --path)

# A package's tests may wait for Gitea's first build (see testdeps), so
# the per-package timeout is longer than go test's 10 minutes.
TEST_TIMEOUT ?= 40m

test: testdeps
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

# The security suite alone: every attack of SECURITY.md, kept as a test
# named TestSecurity* beside the code it attacks (make test runs them too).
security:
	$(GO) test -count=1 -run '^TestSecurity' $(PKGS)

# The race detector on the packages with concurrency of their own.
# activities, workflows and cli link the Temporal server, which the race
# build instruments too. On the project's 2-core machine (shared, so upper
# bounds) a run took 11 minutes with the server's race build cached: api's
# tests 6, cli's 4, the Docker executor's 1.5; a cold cache adds the race
# build of the server and its dependencies (not measured alone).
RACE_PKGS ?= ./api/... ./archive ./db/... ./deploy/... ./executor/host ./executor/docker ./kdl ./pipeline ./runlog ./activities ./workflows ./cli ./forge ./triggers ./schedules
race: testdeps
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(RACE_PKGS)

# Compiles the race tests without running them: .ci/run does it beside
# the tests (which spend much of their time waiting on containers,
# Postgres and Temporal), so that `make race` finds them built. The
# binaries go to a temporary folder and are thrown away: what is kept is
# Go's build cache.
race-build:
	dir=$$(mktemp -d) && $(GO) test -race -c -o $$dir/ $(RACE_PKGS) >/dev/null; rc=$$?; rm -rf "$$dir"; exit $$rc

# golangci-lint v2, pinned in tools/go.mod (its own module, so its
# dependencies leave go.mod alone) and built by `go tool` from the module
# proxy: the first run builds it (7 CPU-minutes) and analyses the module
# (6 CPU-minutes), each about 20 minutes on this 2-core machine while
# other builds shared it; later runs reuse the build cache and
# golangci-lint's own: 10 s to 2 minutes. Its checks and the import
# direction per folder are in .golangci.yml.
GOLANGCI_LINT ?= $(GO) tool -modfile=tools/go.mod golangci-lint

# gofmt, go vet and golangci-lint (see .golangci.yml).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOLANGCI_LINT) run $(PKGS)

bench: testdeps
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

# Runs the fuzzers one after the other, FUZZTIME each: the KDL parser's,
# the pipeline loader's (which parses, decodes and plans) and the archive
# unpacker's. FUZZTIME=10m for a longer run.
FUZZTIME ?= 2m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./kdl
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./pipeline
	$(GO) test -run '^$$' -fuzz '^FuzzUnpack$$' -fuzztime $(FUZZTIME) ./archive

clean:
	rm -rf bin
