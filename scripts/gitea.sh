#!/bin/sh
# Builds Gitea (the real forge the webhook, commit-status and sign-in
# tests run against) once, outside the clone, and prints its path.
#
# Gitea's module cannot be `go install`ed (its go.mod has replace
# directives and declares the path gitea.dev), so a small wrapper module
# requires it, repeats its replace lines and starts from its go.sum (see
# ../shared/recipes/gitea.md). The first build takes 10 to 14 minutes on
# 2 cores; later runs only find the binary. BUILDIT_TOOLS_DIR moves the
# cache (default ~/.cache/buildit-tools); GO names the go command.
#
# With --path it prints the binary's path without building; with
# --background it starts the build in the background and returns; with --static
# it prints the folder Gitea reads its templates and locales from (its
# source in the module cache, as STATIC_ROOT_PATH).
set -eu
version=v1.27.3
go="${GO:-go}"
dir="${BUILDIT_TOOLS_DIR:-$HOME/.cache/buildit-tools}/gitea-$version"
bin="$dir/gitea"

src() {
	GOTOOLCHAIN=local GOFLAGS= "$go" mod download -json "code.gitea.io/gitea@$version" |
		sed -n 's/.*"Dir": "\(.*\)".*/\1/p'
}

case "${1:-}" in
--path)
	echo "$bin"
	exit 0
	;;
--background)
	# Start the build in the background (at a low priority) unless the
	# binary is there or a build runs, and return at once: tests that
	# need Gitea wait for the binary while building.pid names a live
	# process (internal/giteatest), so the build overlaps the
	# compilation and the other tests. The build's output goes to
	# build.log beside the binary.
	if [ -x "$bin" ]; then
		echo "$bin"
		exit 0
	fi
	if [ -f "$dir/building.pid" ] && kill -0 "$(cat "$dir/building.pid")" 2>/dev/null; then
		echo "$bin"
		exit 0
	fi
	mkdir -p "$dir"
	nohup nice -n 10 "$0" >"$dir/build.log" 2>&1 </dev/null &
	# The child writes building.pid itself; write it now too, so that a
	# test starting within the next instant waits.
	echo $! >"$dir/building.pid"
	echo "$bin"
	exit 0
	;;
--static)
	src
	exit 0
	;;
esac

if [ ! -x "$bin" ]; then
	mkdir -p "$dir"
	echo "building gitea $version into $dir (10 to 14 minutes, once)" >&2
	# building.pid tells tests that start while the build runs (CI starts
	# it in the background) to wait for the binary rather than fail.
	echo $$ >"$dir/building.pid"
	trap 'rm -f "$dir/building.pid"' EXIT
	work="$dir/wrapper"
	rm -rf "$work"
	mkdir -p "$work"
	gsrc=$(src)
	cat >"$work/go.mod" <<EOF
module example.com/giteabin

go 1.26.4

require gitea.dev v0.0.0-00010101000000-000000000000

// code.gitea.io/gitea $version declares itself as "gitea.dev".
replace gitea.dev => code.gitea.io/gitea $version

// Copied from Gitea's own go.mod (replace directives of dependencies are ignored by Go).
replace go.yaml.in/yaml/v4 => go.yaml.in/yaml/v4 v4.0.0-rc.3

replace github.com/Azure/azure-sdk-for-go/sdk/azcore => github.com/Azure/azure-sdk-for-go/sdk/azcore v1.19.0

replace github.com/Azure/azure-sdk-for-go/sdk/storage/azblob => github.com/Azure/azure-sdk-for-go/sdk/storage/azblob v1.6.2

replace github.com/microsoft/go-mssqldb => github.com/microsoft/go-mssqldb v1.9.7
EOF
	cp "$gsrc/main.go" "$work/main.go"
	cp "$gsrc/go.sum" "$work/go.sum"
	chmod u+w "$work/main.go" "$work/go.sum"
	(
		cd "$work"
		export GOTOOLCHAIN=local GOFLAGS=
		# Prints "finding module for package github.com/nxadm/tail" (a
		# test-only dependency): harmless.
		"$go" mod tidy >&2 2>/dev/null || "$go" mod tidy >&2
		CGO_ENABLED=0 "$go" build -ldflags "-s -w -X main.Version=${version#v}" -o "$bin.tmp" . >&2
	)
	mv "$bin.tmp" "$bin"
	rm -rf "$work"
fi
echo "$bin"
