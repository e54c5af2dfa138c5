package dbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// clusterDirPrefix names the temporary folders of throwaway clusters, so a
// later run can find and remove those whose test binary died.
const clusterDirPrefix = "buildit-pgtest-"

// ownerFile, in a cluster's folder, holds the pid of the test binary that
// owns it.
const ownerFile = "owner.pid"

// clusterSettings tune the throwaway cluster for tests: durability off
// (fsync, full-page writes, synchronous commit, WAL beyond the minimum),
// small memory, no background work that would make timings noisy, and no
// TCP: the socket is in the cluster's own folder, so clusters of test
// binaries running side by side never collide.
var clusterSettings = []string{
	"listen_addresses=",
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"wal_level=minimal",
	"max_wal_senders=0",
	"max_wal_size=1GB",
	"checkpoint_timeout=1h",
	"shared_buffers=32MB",
	"max_connections=200",
	"autovacuum=off",
	"jit=off",
	"max_parallel_workers_per_gather=0",
	"log_min_messages=warning",
}

// cluster is a throwaway Postgres: its data folder, socket and log are in
// dir, and it is removed when the cluster stops.
type cluster struct {
	dir    string
	bin    string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	exited chan struct{}
}

func (c *cluster) connString() string {
	return fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", c.dir)
}

// startCluster initializes and starts a cluster from the machine's
// binaries, as the postgres system user when running as root (Postgres
// refuses to run as root), and waits until it accepts connections.
func startCluster(ctx context.Context) (*cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := clusterUser()
	if err != nil {
		return nil, err
	}
	removeStaleClusters()

	dir, err := os.MkdirTemp("", clusterDirPrefix)
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, exited: make(chan struct{})}
	fail := func(err error) (*cluster, error) {
		c.stop()
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(dir, "data")

	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}

	c.bin, c.cred = bin, cred
	if err := c.launch(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

// launch starts the postmaster on the cluster's data folder and waits
// until it accepts connections.
func (c *cluster) launch(ctx context.Context) error {
	logFile, err := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	args := []string{"-D", filepath.Join(c.dir, "data"), "-k", c.dir, "-p", "5432"}
	for _, s := range clusterSettings {
		args = append(args, "-c", s)
	}
	c.cmd = exec.Command(filepath.Join(c.bin, "postgres"), args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.Env = append(os.Environ(), "LC_ALL=C")
	c.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.cred,
		// Should the test binary die without stopping the cluster, the
		// kernel sends the postmaster SIGQUIT (immediate shutdown).
		Pdeathsig: syscall.SIGQUIT,
		// Out of the terminal's process group: Ctrl-C goes to the test
		// binary, whose death then stops the cluster.
		Setpgid: true,
	}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	c.exited = exited
	cmd := c.cmd
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return c.waitReady(ctx)
}

// waitReady polls until the cluster accepts a connection.
func (c *cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.connString())
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited at start:\n%s", c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections: %w\n%s", err, c.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *cluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop shuts the cluster down at once (it holds nothing worth a clean
// shutdown) and removes its folder.
func (c *cluster) stop() {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.exited:
		case <-time.After(10 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	}
	_ = os.RemoveAll(c.dir)
}

// halt stops the postmaster with a fast shutdown (clients are cut off,
// data is kept) and waits for it to exit.
func (c *cluster) halt() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// findBinaries returns the folder of initdb and postgres: the newest
// version under /usr/lib/postgresql (Debian), or the folder of an initdb on
// PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres) in /usr/lib/postgresql/*/bin or on PATH: install Debian's postgresql package, or set %s", URLEnv)
}

// versionOf returns the major version in /usr/lib/postgresql/VERSION/bin.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// clusterUser returns the credentials the cluster runs with: nil (this
// process's) unless running as root, then those of the postgres system user
// that Debian's package creates.
func clusterUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, the test cluster needs the postgres system user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// removeStaleClusters removes the folders of clusters whose test binary and
// postmaster are both gone (a binary killed before it could stop its
// cluster). A folder without an owner yet is left alone for a minute, since
// another binary may be creating it.
func removeStaleClusters() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), clusterDirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := readPid(filepath.Join(dir, ownerFile))
		if err != nil {
			if fi, statErr := os.Stat(dir); statErr != nil || time.Since(fi.ModTime()) < time.Minute {
				continue
			}
		} else if alive(owner) {
			continue
		}
		if pm, err := readPid(filepath.Join(dir, "data", "postmaster.pid")); err == nil && alive(pm) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// readPid reads the pid on the first line of a file.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// alive reports whether process pid exists and is not a zombie (one that
// exited and waits for its parent, or init, to reap it).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state …: comm may hold spaces and parentheses.
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}
