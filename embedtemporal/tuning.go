package embedtemporal

import (
	"maps"
	"time"

	"go.temporal.io/server/common/dynamicconfig"
)

// tuning is every dynamic-config value the embedded server runs with (with
// the history long-poll interval and the SQLite pragmas below). The
// server's defaults are made for clusters of hundreds of history shards on
// many hosts; this one has a single shard, one host and one SQLite
// connection, which turns per-shard limits into the bottleneck. Numbers
// are medians of bench_test.go on a 2-core machine, server defaults ->
// this (chain: 20 no-op activities in sequence on a warm server; fan-out:
// 8 in parallel).
//
// Left at their defaults on purpose: system.enableEagerWorkflowStart and
// system.enableActivityEagerExecution are already true in 1.32.1; the
// frontend, history and matching RPS and persistence QPS limits (2000 to
// 9000 a second) are never reached by one developer's runs; the history
// cache is far bigger than a dev server's open workflows.
var tuning = dynamicconfig.StaticClient{
	// Each history queue (transfer, timer, visibility, outbound) reads its
	// tasks at most 20 times a second per shard by default. Every activity
	// and workflow task dispatch is a transfer task, so once the limiter's
	// burst is spent (about the first 20 dispatches after start, which is
	// why a chain was fast in one run and slow in the next) each stage
	// waits ~45 ms for a token: chain 50.8 -> 8.5 ms/stage, fan-out
	// 138 -> 40 ms. Per-host limits (...MaxPollHostRPS) are unlimited.
	dynamicconfig.TransferProcessorMaxPollRPS.Key():   10000,
	dynamicconfig.TimerProcessorMaxPollRPS.Key():      10000,
	dynamicconfig.VisibilityProcessorMaxPollRPS.Key(): 10000,
	dynamicconfig.OutboundProcessorMaxPollRPS.Key():   10000,

	// One partition per task queue: with the default 4, a task and the
	// worker's few pollers often land on different partitions and meet only
	// through forwarding to the root partition. Sticky queues (where
	// workflow tasks go) are unpartitioned anyway, so this mostly helps
	// activities that are not eagerly dispatched (the SDK takes at most 3
	// per workflow task eagerly): fan-out ~80 -> ~40 ms; chains unchanged.
	dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
	dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,

	// The system workflows that scan task queues and history branches for
	// garbage, and the parent-close-policy workers: background work a
	// short-lived dev server does not need, and in 1.32.1 their workers are
	// never stopped (scanner.go: "Nothing is gracefully stopping these
	// workers"), so their long polls held the frontend's graceful stop for
	// its full 1 s drain time and kept polling after Stop. Stop 1080 ->
	// 18 ms, and 75 fewer goroutines left behind per server. Without the
	// worker, history applies parent close policies itself. The cost: a
	// long-lived database file keeps the rows of task queues no longer
	// used (a few per worker restart), which the scanner would delete.
	dynamicconfig.TaskQueueScannerEnabled.Key():       false,
	dynamicconfig.HistoryScannerEnabled.Key():         false,
	dynamicconfig.EnableParentClosePolicyWorker.Key(): false,

	// Visibility API calls (list/count workflows, as the Temporal UI and
	// BuildIt's run lists make) are limited to 10 a second per namespace by
	// default; the temporal CLI's dev server raises it to 100 too.
	dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
}

// Long polls on a workflow's history (how client.WorkflowRun.Get waits for
// a result) end after this long with "nothing yet" and the SDK polls again.
// The server's default is 20 s, and in 1.32.1 the notification that wakes a
// poller is dropped when the poller's one-slot channel is still full
// (events/notifier.go), which happens when the last events of a workflow
// come in a burst on a busy machine: the waiter then sleeps the full 20 s
// although the workflow has finished (measured on the first run of a fresh
// server: 1 to 2 runs in 100 on an idle machine, 3 in 100 beside two
// CPU-bound processes, where the chain's mean went from 9.7 to 39.9
// ms/stage; with 200 ms the slowest of those 100 runs took 288 ms). A
// short interval bounds that stall;
// the price is one cheap re-poll per waiting client per interval (about
// 1 % CPU per waiting client at 200 ms), so the file mode, which serves
// the UI and many waiting clients for hours, uses a longer one.
var (
	longPollInMemory = 200 * time.Millisecond
	longPollFile     = time.Second
)

// sqlitePragmas are applied to a database file (an in-memory database has
// no journal to tune). WAL lets readers run beside the writer; synchronous
// NORMAL (safe with WAL) fsyncs at checkpoints instead of at every commit.
// A killed process loses nothing committed, a power cut at worst the last
// commits, never the database. The default (rollback journal, FULL)
// fsyncs several times per stage: chain on a file 11.1 -> 7.4 ms/stage on
// an idle disk, and on a busy one (other builds writing) 50 to 200 ms.
var sqlitePragmas = map[string]string{
	"journal_mode": "wal",
	"synchronous":  "normal",
}

// dynamicConfig returns the dynamic config for a server on a database file
// (file) or in memory.
func dynamicConfig(file bool) dynamicconfig.StaticClient {
	dc := maps.Clone(tuning)
	longPoll := longPollInMemory
	if file {
		longPoll = longPollFile
	}
	if _, set := dc[dynamicconfig.HistoryLongPollExpirationInterval.Key()]; !set && longPoll > 0 {
		dc[dynamicconfig.HistoryLongPollExpirationInterval.Key()] = longPoll
	}
	return dc
}
