package dbtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// Each Pool is a database of its own, migrated.
func TestPoolsAreSeparateAndMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := Pool(t), Pool(t)
	if _, err := a.Exec(ctx, "INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme')"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM organizations").Scan(&n); err != nil || n != 0 {
		t.Errorf("second database sees %d organizations (%v)", n, err)
	}
	var exists bool
	if err := EmptyPool(t).QueryRow(ctx, "SELECT to_regclass('organizations') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Errorf("EmptyPool has tables (%v, %v)", exists, err)
	}
}

// A test binary killed before it can stop its cluster takes the cluster
// with it, and the next start removes the cluster's folder.
func TestClusterDiesWithTestBinary(t *testing.T) {
	if os.Getenv("DBTEST_CHILD") == "1" {
		Pool(t)
		fmt.Printf("cluster %d %s\n", srv.cluster.cmd.Process.Pid, srv.cluster.dir)
		time.Sleep(time.Minute) // until killed
		return
	}
	if os.Getenv(URLEnv) != "" {
		t.Skipf("%s is set: no throwaway cluster", URLEnv)
	}
	Pool(t) // skips when no Postgres can be had

	child := exec.Command(os.Args[0], "-test.run=^TestClusterDiesWithTestBinary$", "-test.v")
	child.Env = append(os.Environ(), "DBTEST_CHILD=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "cluster" {
			pid, _ = strconv.Atoi(f[1])
			dir = f[2]
			break
		}
	}
	if pid == 0 {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatal("the child test binary did not start a cluster")
	}
	_ = child.Process.Signal(syscall.SIGKILL)
	_ = child.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d outlived its test binary", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, ownerFile)); err != nil {
		t.Fatalf("the dead cluster's folder is already gone: %v", err)
	}
	removeStaleClusters()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("removeStaleClusters left %s (%v)", dir, err)
	}
}
