package archtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// linkRules maps a package to the packages it may not link, directly or
// through anything it imports. A rule ending in "/" forbids every path
// under it.
var linkRules = map[string][]string{
	// Workflow code is deterministic and knows no backend: executors,
	// deploy backends and the database are reached through activities,
	// so not even a package that workflows imports may pull them in.
	"workflows": {
		module + "/activities",
		module + "/executor",
		module + "/executor/",
		module + "/db",
		module + "/db/",
		module + "/deploy/fly",
		module + "/deploy/kubernetes",
		"github.com/docker/",
		"github.com/jackc/",
		"github.com/gin-gonic/",
		"k8s.io/",
	},
	// The API server starts runs on Temporal; the executors, the deploy
	// backends (and client-go with them) and the worker's Postgres
	// adapters belong to workers only.
	"api":       workerOnly,
	"runclient": workerOnly,
	// The artifact sweeper runs in the API server.
	"retention": workerOnly,
	// The deploy backends are given to the activities by the wiring
	// (deploy/backends), not made by them.
	"activities": {
		module + "/deploy/fly",
		module + "/deploy/kubernetes",
		"k8s.io/",
	},
}

// workerOnly are the packages only a worker links.
var workerOnly = []string{
	module + "/activities",
	module + "/executor",
	module + "/executor/",
	module + "/deploy/fly",
	module + "/deploy/kubernetes",
	module + "/workerstore",
	"k8s.io/",
}

func TestLinkedPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("go list takes a few seconds")
	}
	root := filepath.Join("..", "..")
	for pkg, forbidden := range linkRules {
		cmd := exec.Command("go", "list", "-deps", "./"+pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range forbidden {
				if dep == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad) {
					t.Errorf("%s links %s, which it must not", pkg, dep)
				}
			}
		}
	}
}
