package runlog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/executor"
	"github.com/buildit-ci/buildit/runlog"
)

// BenchmarkWriter stores b.N lines of 100 bytes into Postgres through one
// Writer with the default options, Close included, so that ns/op is the
// cost of a stored line and lines/s the rate a stage printing as fast as it
// can is stored at.
func BenchmarkWriter(b *testing.B) {
	e := setup(b)
	line := strings.Repeat("0123456789", 10)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	w := runlog.New(runlog.FromStore(e.store), e.key, runlog.Options{})
	for range b.N {
		w.WriteLine("bench", executor.Stdout, line)
	}
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
