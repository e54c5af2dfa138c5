// Command buildit runs CI/CD pipelines written in KDL: locally on an
// embedded Temporal server, or as a multi-tenant service.
package main

import (
	"os"
	"runtime/debug"

	"github.com/buildit-ci/buildit/cli"
)

// version is set at link time (-ldflags "-X main.version=…"); otherwise the
// module version or VCS revision recorded by the Go toolchain is used.
var version = ""

func main() {
	os.Exit(cli.Execute(cli.NewRootCommand(buildVersion()), os.Args[1:]))
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
