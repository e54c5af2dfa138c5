package docker

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
)

// mtuOption is the bridge driver's MTU option.
const mtuOption = "com.docker.network.driver.mtu"

// runState is what this process knows of one run's network.
type runState struct {
	// mu serializes creating and removing the run's network in this process,
	// so that stages of one run racing through Prepare create it once, and a
	// stage's Destroy does not remove it under another stage's Start.
	mu sync.Mutex
	// id is the network's ID once known.
	id string
	// stages are the stage attempts between Prepare and Destroy here.
	stages map[string]bool
	// refs counts the goroutines using this state (guarded by Executor.mu);
	// the state is dropped when it is unused and holds nothing.
	refs int
}

// runs is what this process knows of each run's network, shared by every
// Executor in the process: a process that drives one engine through
// several executors (a worker restarted in-process, the tests) still
// creates a run's network once. Separate processes on one engine can race:
// see ensureNetwork.
var (
	runsMu sync.Mutex
	runs   = map[string]*runState{}
)

// withRun calls fn with the run's state locked.
func (e *Executor) withRun(runID string, fn func(rs *runState) error) error {
	runsMu.Lock()
	rs := runs[runID]
	if rs == nil {
		rs = &runState{stages: map[string]bool{}}
		runs[runID] = rs
	}
	rs.refs++
	runsMu.Unlock()

	rs.mu.Lock()
	err := fn(rs)
	rs.mu.Unlock()

	runsMu.Lock()
	rs.refs--
	// Nobody else holds rs now, so reading stages is safe.
	if rs.refs == 0 && len(rs.stages) == 0 {
		delete(runs, runID)
	}
	runsMu.Unlock()
	return err
}

// networkID returns the ID of the run's network, creating the network when
// needed, and records stageKey (when not "") as a user of it. fresh forgets
// a cached ID first, after the engine said the network was gone.
func (e *Executor) networkID(ctx context.Context, runID, stageKey string, fresh bool) (string, error) {
	var id string
	err := e.withRun(runID, func(rs *runState) error {
		if stageKey != "" {
			rs.stages[stageKey] = true
		}
		if fresh {
			rs.id = ""
		}
		if rs.id == "" {
			nid, err := e.ensureNetwork(ctx, runID)
			if err != nil {
				return err
			}
			rs.id = nid
		}
		id = rs.id
		return nil
	})
	return id, err
}

// ensureNetwork finds or creates the run's network. Another process on the
// same engine may create it at the same moment: old engines (API < 1.44)
// only check duplicate names on a best-effort basis, so when two networks of
// the same name exist, every process picks the oldest and the loser's
// creator removes its own. That narrows the race but does not close it (a
// creator that listed before the other's network existed keeps its own);
// two networks of one run are harmless — a stage and its services use the
// one the stage's executor chose, and CleanupRun removes all of the run's —
// and BuildIt sends a run's stages to one worker per host anyway.
func (e *Executor) ensureNetwork(ctx context.Context, runID string) (string, error) {
	name := NetworkName(runID)
	if id, err := e.findNetwork(ctx, runID, name); err != nil || id != "" {
		return id, err
	}
	opts := network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{LabelManaged: "true", LabelRun: runID},
	}
	if mtu := e.bridgeMTU(ctx); mtu != "" {
		opts.Options = map[string]string{mtuOption: mtu}
	}
	created, err := e.cli.NetworkCreate(ctx, name, opts)
	if err != nil && !isConflict(err) {
		return "", fmt.Errorf("create network %s: %w", name, err)
	}
	id, err := e.findNetwork(ctx, runID, name)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", fmt.Errorf("create network %s: gone right after creation", name)
	}
	if created.ID != "" && created.ID != id {
		_ = e.cli.NetworkRemove(ctx, created.ID)
	}
	return id, nil
}

// findNetwork returns the ID of the run's network, or "" when there is none.
func (e *Executor) findNetwork(ctx context.Context, runID, name string) (string, error) {
	// The name filter matches substrings; keep exact matches only.
	list, err := e.cli.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", name))})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	var same []network.Summary
	for _, n := range list {
		if n.Name == name {
			same = append(same, n)
		}
	}
	if len(same) == 0 {
		return "", nil
	}
	sort.Slice(same, func(i, j int) bool {
		if !same[i].Created.Equal(same[j].Created) {
			return same[i].Created.Before(same[j].Created)
		}
		return same[i].ID < same[j].ID
	})
	n := same[0]
	if n.Labels[LabelRun] != runID {
		return "", fmt.Errorf("network %s exists but does not belong to run %q", name, runID)
	}
	return n.ID, nil
}

// bridgeMTU is the default bridge's MTU, which the engine's "mtu" setting
// applies to that network only: user-defined networks default to 1500, which
// breaks traffic out of containers on hosts with a smaller MTU.
func (e *Executor) bridgeMTU(ctx context.Context) string {
	e.mtuOnce.Do(func() {
		n, err := e.cli.NetworkInspect(ctx, "bridge", network.InspectOptions{})
		if err == nil {
			e.mtu = n.Options[mtuOption]
		}
	})
	return e.mtu
}

// releaseNetwork forgets the stage attempt and removes the run's network when
// no stage of the run is in progress here and no container of the run is
// left on the engine (a created container is not on the network yet, so the
// network's endpoint list alone is not enough). Called after the stage's own
// containers are gone, so that of two stages of the run ending at once, in
// two workers, the later one finds nothing left and removes the network.
func (e *Executor) releaseNetwork(ctx context.Context, runID, stageKey string) error {
	return e.withRun(runID, func(rs *runState) error {
		delete(rs.stages, stageKey)
		if len(rs.stages) > 0 || e.keep {
			return nil
		}
		left, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: runFilter(runID)})
		if err != nil {
			return fmt.Errorf("list containers of run: %w", err)
		}
		if len(left) > 0 {
			return nil
		}
		target := rs.id
		rs.id = ""
		if target == "" {
			if target, err = e.findNetwork(ctx, runID, NetworkName(runID)); err != nil || target == "" {
				return err
			}
		}
		err = e.cli.NetworkRemove(ctx, target)
		switch {
		case err == nil, isNotFound(err):
		case isInUse(err):
			// Another worker's stage of this run joined it meanwhile; the
			// last one out removes it.
		default:
			return fmt.Errorf("remove network %s: %w", NetworkName(runID), err)
		}
		return nil
	})
}

// runFilter selects what BuildIt created for runID.
func runFilter(runID string) filters.Args {
	return filters.NewArgs(filters.Arg("label", LabelManaged+"=true"), filters.Arg("label", LabelRun+"="+runID))
}
