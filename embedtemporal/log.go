package embedtemporal

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogLevel is the lowest level of server log records passed on to
// Options.Logger. The embedded server is chatty at info level (shard
// ownership, queue readers, service start and stop), none of which a BuildIt
// user can act on.
const serverLogLevel = slog.LevelWarn

// slogLogger adapts an *slog.Logger to the server's log.Logger interface.
//
// The server calls Fatal where it does not expect to go on, as its own
// logger exits the process. While the server is being built (building set
// by start around temporal.NewServer, in its goroutine), Fatal and Panic
// panic with a *fatalError, which start recovers and returns: that is where
// a port that cannot be bound is reported, and a logger that only logged
// would let the server go on with a nil listener and crash later in some
// goroutine. Afterwards they only log an error: the calls then come from
// the server's own goroutines (one is a race in 1.32.1 where a Stop right
// after Start makes a service's Serve return "the server has been
// stopped"), and taking the host process down for them would be worse
// than the broken server they report.
//
// Once stopping is set (by Server.Stop), warnings are dropped too: while
// the services go down one by one, the remaining ones warn about dialing the
// stopped ones ("network dial error"), which is expected.
type slogLogger struct {
	l        *slog.Logger
	building *atomic.Bool
	stopping *atomic.Bool
}

var (
	_ log.Logger     = slogLogger{}
	_ log.WithLogger = slogLogger{}
)

// fatalError is the panic value of slogLogger.Fatal and Panic while the
// server is being built.
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

// newServerLogger returns the server logger for l; nil discards.
func newServerLogger(l *slog.Logger) slogLogger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	} else {
		l = l.With("component", "temporal")
	}
	return slogLogger{l: l, building: new(atomic.Bool), stopping: new(atomic.Bool)}
}

func (s slogLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }

func (s slogLogger) Info(msg string, tags ...tag.Tag) { s.log(slog.LevelInfo, msg, tags) }

func (s slogLogger) Warn(msg string, tags ...tag.Tag) { s.log(slog.LevelWarn, msg, tags) }

func (s slogLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic panics only in the server's development mode: here it logs.
func (s slogLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

func (s slogLogger) Panic(msg string, tags ...tag.Tag) { s.fatal(msg, tags) }

func (s slogLogger) Fatal(msg string, tags ...tag.Tag) { s.fatal(msg, tags) }

func (s slogLogger) With(tags ...tag.Tag) log.Logger {
	return slogLogger{l: s.l.With(attrs(tags)...), building: s.building, stopping: s.stopping}
}

func (s slogLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if level < serverLogLevel || level < slog.LevelError && s.stopping.Load() ||
		!s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.Log(context.Background(), level, msg, attrs(tags)...)
}

func (s slogLogger) fatal(msg string, tags []tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	if !s.building.Load() {
		return
	}
	var b strings.Builder
	b.WriteString("temporal server: ")
	b.WriteString(msg)
	for _, t := range tags {
		fmt.Fprintf(&b, " %s=%v", t.Key(), t.Value())
	}
	panic(&fatalError{msg: b.String()})
}

func attrs(tags []tag.Tag) []any {
	out := make([]any, len(tags))
	for i, t := range tags {
		out[i] = slog.Any(t.Key(), t.Value())
	}
	return out
}
