#!/bin/sh
# Builds versitygw (an S3-compatible server with a POSIX backend: the real
# S3 server the blob store's tests and benchmarks run against) once,
# outside the clone, and prints its path. The first build takes about
# 5 minutes on 2 cores; later runs only find the binary. BUILDIT_TOOLS_DIR
# moves the cache (default ~/.cache/buildit-tools); GO names the go
# command. With --path it prints the path without building.
set -eu
version=v1.8.0
dir="${BUILDIT_TOOLS_DIR:-$HOME/.cache/buildit-tools}/versitygw-$version"
bin="$dir/versitygw"
if [ "${1:-}" = --path ]; then
	echo "$bin"
	exit 0
fi
if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	echo "building versitygw $version into $dir (about 5 minutes, once)" >&2
	# GOFLAGS from the environment (-mod=vendor, say) are the clone's,
	# not this build's.
	GOTOOLCHAIN=local GOFLAGS= GOBIN="$dir" "${GO:-go}" install \
		-ldflags "-s -w -X main.Version=$version" \
		"github.com/versity/versitygw/cmd/versitygw@$version" >&2
fi
echo "$bin"
