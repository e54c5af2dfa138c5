# BuildIt — common tasks. `make test` is what CI runs (through .ci/run).
GO      ?= go
BIN     ?= bin/buildit
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKGS    ?= ./...

.PHONY: build test lint bench fuzz generate clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/buildit

test:
	$(GO) test -count=1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# Runs the KDL parser's fuzzer; FUZZTIME=10m for a longer run.
FUZZTIME ?= 2m
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./kdl

clean:
	rm -rf bin
