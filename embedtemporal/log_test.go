package embedtemporal

import (
	"errors"
	"log/slog"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

func TestLoggerFatal(t *testing.T) {
	logs := &recorder{}
	l := newServerLogger(slog.New(logs))
	l.Info("chatty")
	l.Warn("warned")

	// While the server is built, Fatal is an error for start to return.
	l.building.Store(true)
	err := catchFatal(func() error {
		l.With(tag.Service("frontend")).Fatal("Failed to start gRPC listener", tag.Error(errors.New("address already in use")))
		t.Error("Fatal returned while building")
		return nil
	})
	var fe *fatalError
	if !errors.As(err, &fe) || !isAddrInUse(err) {
		t.Errorf("catchFatal = %v; want a *fatalError naming the cause", err)
	}

	// Afterwards it only logs, and once stopping only errors get through.
	l.building.Store(false)
	l.Fatal("after start")
	l.stopping.Store(true)
	l.Warn("dial error while stopping")
	l.Error("error while stopping")

	var got []string
	for _, r := range logs.records {
		got = append(got, r.Level.String()+" "+r.Message)
	}
	want := []string{
		"WARN warned",
		"ERROR Failed to start gRPC listener",
		"ERROR after start",
		"ERROR error while stopping",
	}
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logged %q, want %q", got, want)
		}
	}
}
