package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/db/dbtest"
	"github.com/buildit-ci/buildit/executor/executortest"
)

// buildit dev run as root with --allow-host-stages: a host stage of one
// run is not root, cannot list the data dir or the runs' workspaces in it,
// and cannot read the secret key, Temporal's database or the workspace of
// another run in progress.
func TestSecurityDevHostStagesCannotReachTheDataDirOrOtherRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: host stages get users of their own only when buildit runs as root (CI runs this as root)")
	}
	url := dbtest.URL(dbtest.Pool(t))
	dir, addr := filepath.Join(executortest.ReachableDir(t), "data"), freeAddr(t)
	startProc(t, nil, "dev", "--data-dir", dir, "--addr", addr, "--database-url", url, "--temporal-port", "0", "--no-ui",
		"--executor", "host", "--allow-host-stages")
	base := "http://" + addr
	waitReady(t, base)
	for path, want := range map[string]os.FileMode{dir: 0o711, filepath.Join(dir, "secret.key"): 0o600, filepath.Join(dir, "temporal.db"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %#o", path, fi.Mode(), err, want)
		}
	}
	// Whatever else the data dir holds (Temporal's journal files) too.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !fi.IsDir() && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s in the data dir: mode %#o, want 0600", e.Name(), fi.Mode().Perm())
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}

	o := signUp(t, base)
	o.pipeline("victim", `pipeline "victim"
stage "hold" { run "echo top-secret > loot" "pwd" "sleep 120"; }
`)
	o.trigger("victim")
	var victim string
	for deadline := time.Now().Add(60 * time.Second); victim == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the victim's stage never printed its workspace")
		}
		var st runState
		if o.get("victim/runs/1", &st) == 200 && stageStatus(st, "hold") == "running" {
			if lines := o.logLines("victim/runs/1/logs?stage=hold"); len(lines) > 0 {
				victim = lines[0]
			}
		}
	}
	t.Cleanup(func() {
		apiCall(t, o.hc, "POST", base+"/api/v1/orgs/acme/tenants/web/pipelines/victim/runs/1/cancel", nil, 202)
	})

	probe := func(cmd, marker string) string { return cmd + " && echo " + marker + " || true" }
	attack := []string{
		"id -u",
		probe("ls "+dir, "LISTED-DATA-DIR"),
		probe("ls "+filepath.Join(dir, "workspaces"), "LISTED-WORK-ROOT"),
		probe("cat "+filepath.Join(dir, "secret.key"), "READ-SECRET-KEY"),
		probe("cat "+filepath.Join(dir, "temporal.db")+" >/dev/null", "READ-TEMPORAL-DB"),
		probe("cat "+filepath.Join(victim, "loot"), "READ-OTHER-RUN"),
		probe("ls "+victim, "LISTED-OTHER-RUN"),
	}
	src := "pipeline \"attacker\"\nstage \"probe\" {\n"
	for _, c := range attack {
		src += "    run " + kdlString(c) + "\n"
	}
	o.pipeline("attacker", src+"}\n")
	o.trigger("attacker")
	done := o.waitRun("attacker/runs/1", 60*time.Second, func(r runState) bool {
		return r.Status == "succeeded" || r.Status == "failed" || r.Status == "cancelled"
	})
	lines := o.logLines("attacker/runs/1/logs?stage=probe")
	out := strings.Join(lines, "\n")
	if done.Status != "succeeded" || len(lines) == 0 {
		t.Fatalf("attacker run %+v:\n%s", done, out)
	}
	if lines[0] == "0" {
		t.Errorf("the host stage ran as root")
	}
	for _, leak := range []string{"LISTED-DATA-DIR", "LISTED-WORK-ROOT", "READ-SECRET-KEY", "READ-TEMPORAL-DB", "READ-OTHER-RUN", "LISTED-OTHER-RUN", "top-secret", strings.TrimSpace(string(key))} {
		if strings.Contains(out, leak) {
			t.Errorf("a host stage got through (%s):\n%s", leak, out)
		}
	}
}

// kdlString quotes s as a KDL string.
func kdlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
