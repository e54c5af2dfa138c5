// Package docker runs stages in Docker containers: one container per stage
// attempt, with the run's workspace bind-mounted at /workspace, on a bridge
// network of the run's own where the stage's services answer by name.
//
// Everything it creates has a deterministic name and BuildIt's labels, so a
// restarted worker re-attaches to a running stage instead of starting it
// twice, and CleanupRun can remove what a crash left behind.
package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/pipeline"
)

// DefaultStopGrace is how long a cancelled stage's container has between
// SIGTERM and SIGKILL when Options.StopGrace is zero.
const DefaultStopGrace = 2 * time.Second

// workspaceDir is where the run's workspace is mounted in containers.
const workspaceDir = "/workspace"

// homeDir is where a stage's Spec.Home, when set, is mounted, and its
// HOME: a folder of the run's own that keeps a cache's "~/..." paths
// (like GitHub Actions' /github/home).
const homeDir = "/buildit/home"

// Options configure an Executor.
type Options struct {
	// StopGrace is how long a cancelled stage's container has between
	// SIGTERM and SIGKILL, rounded up to whole seconds (the Docker API's
	// unit). Zero means DefaultStopGrace.
	StopGrace time.Duration
	// Logger receives what the executor does beyond the stage's own output
	// (image pulls, reused containers). Nil discards it.
	Logger *slog.Logger
	// KeepRunNetwork leaves a run's network in place when its last stage is
	// destroyed, for the caller to remove with CleanupRun when the run ends.
	// Creating and removing a bridge network costs about 0.2 s on a small
	// machine, which otherwise every stage of a sequential chain pays.
	KeepRunNetwork bool
}

// Executor is the Docker executor. The zero value is not usable; call New or
// NewFromEnv.
type Executor struct {
	cli   client.APIClient
	owned bool
	grace int
	log   *slog.Logger
	keep  bool

	mu sync.Mutex
	// attached holds the output streams of stages this process started,
	// by container ID, until Logs takes them.
	attached map[string]*types.HijackedResponse

	mtuOnce sync.Once
	mtu     string
}

var _ executor.Executor = (*Executor)(nil)

// New returns an executor that drives the engine behind cli. The caller
// keeps ownership of cli.
func New(cli client.APIClient, opts Options) *Executor {
	grace := opts.StopGrace
	if grace <= 0 {
		grace = DefaultStopGrace
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{
		cli:   cli,
		grace: int((grace + time.Second - 1) / time.Second),
		log:   log,
		keep:  opts.KeepRunNetwork,

		attached: map[string]*types.HijackedResponse{},
	}
}

// NewFromEnv returns an executor for the engine that DOCKER_HOST and the
// other DOCKER_* variables name (the local socket by default), speaking the
// newest API version both sides know. Close releases its client.
func NewFromEnv(opts Options) (*Executor, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	e := New(cli, opts)
	e.owned = true
	return e, nil
}

// Close releases the client when NewFromEnv made it.
func (e *Executor) Close() error {
	if e.owned {
		return e.cli.Close()
	}
	return nil
}

// Ping reports whether the engine answers.
func (e *Executor) Ping(ctx context.Context) error {
	if _, err := e.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	return nil
}

// Name implements executor.Executor.
func (e *Executor) Name() string { return "docker" }

func stageKey(s *executor.Spec) string {
	return s.StageID + "\x00" + strconv.Itoa(s.Attempt)
}

func stageLabels(s *executor.Spec) map[string]string {
	return map[string]string{
		LabelManaged: "true",
		LabelRun:     s.RunID,
		LabelStage:   s.StageID,
		LabelAttempt: strconv.Itoa(s.Attempt),
	}
}

// stageFilter selects the stage attempt's containers: its own and its
// services'.
func stageFilter(s *executor.Spec) filters.Args {
	f := runFilter(s.RunID)
	f.Add("label", LabelStage+"="+s.StageID)
	f.Add("label", LabelAttempt+"="+strconv.Itoa(s.Attempt))
	return f
}

// ours reports whether labels name the stage attempt spec.
func ours(labels map[string]string, s *executor.Spec) bool {
	return labels[LabelManaged] == "true" && labels[LabelRun] == s.RunID &&
		labels[LabelStage] == s.StageID && labels[LabelAttempt] == strconv.Itoa(s.Attempt)
}

// workdir is the stage's working directory inside the container.
func workdir(spec *executor.Spec) (string, error) {
	dir := path.Join(workspaceDir, filepath.ToSlash(spec.Workdir))
	if dir != workspaceDir && !strings.HasPrefix(dir, workspaceDir+"/") {
		return "", fmt.Errorf("workdir %q is outside the workspace", spec.Workdir)
	}
	return dir, nil
}

// check rejects what Start would fail on, before Prepare creates anything.
func check(spec *executor.Spec) error {
	if spec.Image == "" {
		return errors.New("no image")
	}
	if spec.Workspace == "" {
		return errors.New("no workspace")
	}
	if !filepath.IsAbs(spec.Workspace) {
		return fmt.Errorf("workspace %q is not an absolute path", spec.Workspace)
	}
	if _, err := workdir(spec); err != nil {
		return err
	}
	if _, err := resources(spec.Resources); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, svc := range spec.Services {
		if svc.Name == "" || svc.Image == "" {
			return fmt.Errorf("service %q: needs a name and an image", svc.Name)
		}
		if seen[svc.Name] {
			return fmt.Errorf("service %q: defined twice", svc.Name)
		}
		seen[svc.Name] = true
	}
	return nil
}

// Prepare makes the stage's image and its services' images available
// (pulling them when missing), creates the run's network when this is the
// run's first stage here, and starts the stage's services on it, each
// reachable under its service name. It is idempotent: services already
// running are left as they are, stopped ones are started again.
func (e *Executor) Prepare(ctx context.Context, spec *executor.Spec) error {
	if err := check(spec); err != nil {
		return err
	}
	images := []string{spec.Image}
	for _, svc := range spec.Services {
		images = append(images, svc.Image)
	}
	for i, ref := range images {
		if i > 0 && ref == images[0] {
			continue
		}
		if err := e.ensureImage(ctx, ref); err != nil {
			return err
		}
	}
	netID, err := e.networkID(ctx, spec.RunID, stageKey(spec), false)
	if err != nil {
		return err
	}
	for _, svc := range spec.Services {
		if err := e.startService(ctx, spec, svc, netID); err != nil {
			return fmt.Errorf("service %q: %w", svc.Name, err)
		}
	}
	return nil
}

// startService creates (or finds) and starts one service container.
func (e *Executor) startService(ctx context.Context, spec *executor.Spec, svc pipeline.Service, netID string) error {
	name := serviceName(spec.RunID, spec.StageID, spec.Attempt, svc.Name)
	labels := stageLabels(spec)
	labels[LabelService] = svc.Name
	build := func(netID string) create {
		return create{
			name: name,
			config: &container.Config{
				Image:  svc.Image,
				Env:    envList(svc.Env, nil),
				Cmd:    svc.Command,
				Labels: labels,
			},
			host: &container.HostConfig{NetworkMode: container.NetworkMode(netID)},
			net: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				netID: {Aliases: []string{svc.Name}},
			}},
		}
	}
	// A service that died is started again; a stage never is.
	_, err := e.createAndStart(ctx, spec, netID, build, true, nil)
	return err
}

// create is one ContainerCreate call.
type create struct {
	name   string
	config *container.Config
	host   *container.HostConfig
	net    *network.NetworkingConfig
}

// createAndStart creates the container (or finds it, when a worker that died
// created it) and starts it unless it has run already. Another worker's
// Destroy may remove the run's network between our finding it and our
// container joining it; then the network is made again and the container
// with it.
//
// restart says to start a found container again when it has stopped.
// beforeStart, when not nil, is called with the container's ID just before
// it is started.
func (e *Executor) createAndStart(ctx context.Context, spec *executor.Spec, netID string, build func(netID string) create, restart bool, beforeStart func(id string)) (string, error) {
	var lastErr error
	for try := 0; try < 3; try++ {
		if try > 0 {
			var err error
			if netID, err = e.networkID(ctx, spec.RunID, "", true); err != nil {
				return "", err
			}
		}
		c := build(netID)
		id, state, err := e.createOrFind(ctx, spec, c)
		if err != nil {
			if isNetworkGone(err) {
				lastErr = err
				continue
			}
			return "", err
		}
		switch {
		case state == container.StateCreated:
		case state == container.StateRunning, !restart:
			return id, nil
		}
		if beforeStart != nil {
			beforeStart(id)
		}
		err = e.cli.ContainerStart(ctx, id, container.StartOptions{})
		if err == nil {
			return id, nil
		}
		if !isNetworkGone(err) {
			return id, fmt.Errorf("start container %s: %w", c.name, err)
		}
		lastErr = err
		_ = e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	}
	return "", fmt.Errorf("run network kept disappearing: %w", lastErr)
}

// createOrFind creates c, or returns the container of that name when it
// exists and belongs to the same stage attempt, with its state ("created"
// for a new one).
func (e *Executor) createOrFind(ctx context.Context, spec *executor.Spec, c create) (id string, state container.ContainerState, err error) {
	resp, err := e.cli.ContainerCreate(ctx, c.config, c.host, c.net, nil, c.name)
	if err == nil {
		return resp.ID, container.StateCreated, nil
	}
	if !isConflict(err) {
		return "", "", fmt.Errorf("create container %s: %w", c.name, err)
	}
	info, ierr := e.cli.ContainerInspect(ctx, c.name)
	if ierr != nil {
		return "", "", fmt.Errorf("create container %s: %w (and inspect: %w)", c.name, err, ierr)
	}
	if info.Config == nil || !ours(info.Config.Labels, spec) {
		return "", "", fmt.Errorf("create container %s: the name is taken by a container of another stage", c.name)
	}
	e.log.InfoContext(ctx, "reusing container", "container", c.name, "state", stateOf(info))
	return info.ID, stateOf(info), nil
}

func stateOf(info container.InspectResponse) container.ContainerState {
	if info.ContainerJSONBase == nil || info.State == nil {
		return ""
	}
	return info.State.Status
}

// Start creates and starts the stage's container: `Shell -e -c <commands>`
// in /workspace/<Workdir>, with the stage's env and secrets, on the run's
// network, within the stage's resource limits. When the container exists
// already (a worker restarted between Start and recording the handle), it
// is reused, not started a second time. The handle is the container ID.
//
// Start attaches to the container's output before starting it, for Logs:
// call Logs (or Destroy) after it, as the engine holds back a stage that
// printed more than about 1 MiB that nobody reads.
func (e *Executor) Start(ctx context.Context, spec *executor.Spec) (executor.Handle, error) {
	if err := check(spec); err != nil {
		return executor.Handle{}, err
	}
	dir, _ := workdir(spec)
	res, _ := resources(spec.Resources)
	shell := strings.Fields(spec.Shell)
	if len(shell) == 0 {
		shell = []string{"sh"}
	}
	cmd := append(shell, "-e", "-c", strings.Join(spec.Commands, "\n"))
	hosts, err := e.serviceHosts(ctx, spec)
	if err != nil {
		return executor.Handle{}, err
	}
	netID, err := e.networkID(ctx, spec.RunID, stageKey(spec), false)
	if err != nil {
		return executor.Handle{}, err
	}
	initProc := true
	mounts := []mount.Mount{{Type: mount.TypeBind, Source: spec.Workspace, Target: workspaceDir}}
	env := envList(spec.Env, spec.Secrets)
	if spec.Home != "" {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: spec.Home, Target: homeDir})
		env = append(env, "HOME="+homeDir)
	}
	build := func(netID string) create {
		return create{
			name: ContainerName(spec.RunID, spec.StageID, spec.Attempt),
			config: &container.Config{
				Image: spec.Image,
				// The entrypoint, not the command, so that an image's own
				// entrypoint does not wrap the script.
				Entrypoint: cmd,
				Env:        env,
				WorkingDir: dir,
				Labels:     stageLabels(spec),
			},
			host: &container.HostConfig{
				Mounts:      mounts,
				NetworkMode: container.NetworkMode(netID),
				Resources:   res,
				ExtraHosts:  hosts,
				// An init as PID 1 passes SIGTERM on to the shell (which as
				// PID 1 would ignore it) and reaps what the script leaves.
				Init: &initProc,
			},
			net: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netID: {}}},
		}
	}
	// Attached before it starts, the stage's output comes straight from its
	// stdio, live and whole: the engine's log follow mode misses the last
	// records and, with a rotating log driver, whatever a slow reader had
	// not read before the file rotated away.
	var att *types.HijackedResponse
	attach := func(id string) {
		if att != nil {
			att.Close()
			att = nil
		}
		resp, err := e.cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
		if err != nil {
			e.log.WarnContext(ctx, "attach to container; logs will be followed instead", "container", id, "err", err)
			return
		}
		att = &resp
	}
	id, err := e.createAndStart(ctx, spec, netID, build, false, attach)
	if err != nil {
		if att != nil {
			att.Close()
		}
		return executor.Handle{}, err
	}
	if att != nil {
		e.mu.Lock()
		e.attached[id] = att
		e.mu.Unlock()
	}
	return executor.Handle{ID: id}, nil
}

// takeAttached hands over the output stream attached to container id, if
// this process attached one.
func (e *Executor) takeAttached(id string) *types.HijackedResponse {
	e.mu.Lock()
	defer e.mu.Unlock()
	att := e.attached[id]
	delete(e.attached, id)
	return att
}

// serviceHosts pins each service's name to its container's address in the
// stage's /etc/hosts. The network alias alone is shared by every container
// of the run with that alias: two matrix instances of a stage, each with a
// "db", would otherwise each reach either db.
func (e *Executor) serviceHosts(ctx context.Context, spec *executor.Spec) ([]string, error) {
	var hosts []string
	for _, svc := range spec.Services {
		name := serviceName(spec.RunID, spec.StageID, spec.Attempt, svc.Name)
		info, err := e.cli.ContainerInspect(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		if info.NetworkSettings == nil {
			continue
		}
		for _, ep := range info.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress != "" {
				hosts = append(hosts, svc.Name+":"+ep.IPAddress)
				break
			}
		}
	}
	return hosts, nil
}

// envList merges env and secrets (secrets win) into sorted KEY=value pairs.
func envList(env, secrets map[string]string) []string {
	m := make(map[string]string, len(env)+len(secrets))
	for k, v := range env {
		m[k] = v
	}
	for k, v := range secrets {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// target is the container the handle names, or the stage's deterministic
// name without one.
func (e *Executor) target(spec *executor.Spec, h executor.Handle) string {
	if h.ID != "" {
		return h.ID
	}
	return ContainerName(spec.RunID, spec.StageID, spec.Attempt)
}

// Attach finds the stage's container by the handle's ID, or by its
// deterministic name when that ID is gone. It returns executor.ErrNotFound
// when there is no such container, or one that was created but never
// started (Start then reuses and starts it).
func (e *Executor) Attach(ctx context.Context, spec *executor.Spec, h executor.Handle) error {
	info, err := e.cli.ContainerInspect(ctx, e.target(spec, h))
	if isNotFound(err) && h.ID != "" {
		info, err = e.cli.ContainerInspect(ctx, ContainerName(spec.RunID, spec.StageID, spec.Attempt))
	}
	if isNotFound(err) {
		return executor.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("inspect container: %w", err)
	}
	if info.Config == nil || !ours(info.Config.Labels, spec) {
		return executor.ErrNotFound
	}
	switch stateOf(info) {
	case container.StateCreated, container.StateRemoving, container.StateDead:
		return executor.ErrNotFound
	}
	return nil
}

// Wait waits for the container to stop and returns its exit code. When ctx
// is done first it stops the container (SIGTERM, then SIGKILL after the
// grace period) and returns ctx's error.
func (e *Executor) Wait(ctx context.Context, spec *executor.Spec, h executor.Handle) (int, error) {
	id := e.target(spec, h)
	code, err := e.wait(ctx, id)
	if isNotFound(err) && h.ID != "" && ctx.Err() == nil {
		id = ContainerName(spec.RunID, spec.StageID, spec.Attempt)
		code, err = e.wait(ctx, id)
	}
	switch {
	case ctx.Err() != nil:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(e.grace)*time.Second+10*time.Second)
		defer cancel()
		grace := e.grace
		if serr := e.cli.ContainerStop(sctx, id, container.StopOptions{Timeout: &grace}); serr != nil && !isNotFound(serr) {
			e.log.WarnContext(ctx, "stop container", "container", id, "err", serr)
		}
		return -1, ctx.Err()
	case isNotFound(err):
		return -1, executor.ErrNotFound
	case err != nil:
		return -1, fmt.Errorf("wait for container: %w", err)
	}
	return code, nil
}

func (e *Executor) wait(ctx context.Context, id string) (int, error) {
	// "not-running" returns at once for a container that has ended already,
	// as after a re-attach.
	waitC, errC := e.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case r := <-waitC:
		if r.Error != nil && r.Error.Message != "" {
			return -1, errors.New(r.Error.Message)
		}
		return int(r.StatusCode), nil
	case err := <-errC:
		return -1, err
	}
}

// Destroy removes the stage's container and its services' (running or not),
// then the run's network when no stage of the run still needs it (unless
// Options.KeepRunNetwork). It is safe after a failed Prepare or Start, and
// when called twice.
func (e *Executor) Destroy(ctx context.Context, spec *executor.Spec) error {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: stageFilter(spec)})
	if err != nil {
		return fmt.Errorf("list stage containers: %w", err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
		if att := e.takeAttached(c.ID); att != nil {
			att.Close()
		}
	}
	errs := []error{e.removeAll(ctx, ids)}
	if spec.RunID != "" {
		errs = append(errs, e.releaseNetwork(ctx, spec.RunID, stageKey(spec)))
	}
	return errors.Join(errs...)
}

// removeAll force-removes the containers, in parallel.
func (e *Executor) removeAll(ctx context.Context, ids []string) error {
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !isNotFound(err) && !isRemovalInProgress(err) {
				errs[i] = fmt.Errorf("remove container %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// CleanupRun removes every container and network labelled with runID,
// whatever state they are in: for Ctrl-C, and for what a crashed worker
// left behind.
func (e *Executor) CleanupRun(ctx context.Context, runID string) error {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(runID)})
	if err != nil {
		return fmt.Errorf("list containers of run %q: %w", runID, err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	errs := []error{e.removeAll(ctx, ids)}
	nets, err := e.cli.NetworkList(ctx, network.ListOptions{Filters: runFilter(runID)})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list networks of run %q: %w", runID, err))...)
	}
	for _, n := range nets {
		if err := e.cli.NetworkRemove(ctx, n.ID); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	runsMu.Lock()
	if rs := runs[runID]; rs != nil && rs.refs == 0 {
		delete(runs, runID)
	}
	runsMu.Unlock()
	return errors.Join(errs...)
}

func isNotFound(err error) bool { return err != nil && cerrdefs.IsNotFound(err) }

func isConflict(err error) bool { return err != nil && cerrdefs.IsConflict(err) }

// isInUse reports the engine's refusal to remove a network that still has
// containers on it (403 on old engines, 409 on newer ones).
func isInUse(err error) bool {
	return err != nil && (cerrdefs.IsPermissionDenied(err) || cerrdefs.IsConflict(err))
}

// isRemovalInProgress reports that another Destroy is removing the container.
func isRemovalInProgress(err error) bool {
	return err != nil && strings.Contains(err.Error(), "is already in progress")
}

// isNetworkGone reports that a container could not be created or started
// because its network was removed meanwhile.
func isNetworkGone(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "network") && (isNotFound(err) || strings.Contains(msg, "not found"))
}
