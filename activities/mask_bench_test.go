package activities

import (
	"fmt"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/executor"
)

type discardSink struct{}

func (discardSink) WriteLine(string, executor.Stream, string) {}

// BenchmarkMaskLine masks 200-byte log lines against 10 secrets of 32
// bytes: a line with no secret in it (most lines) and one with a secret.
func BenchmarkMaskLine(b *testing.B) {
	secrets := map[string]string{}
	for i := range 10 {
		secrets[fmt.Sprintf("S%d", i)] = fmt.Sprintf("s3cr3t-%02d-%s", i, strings.Repeat("x9Q", 8))
	}
	plain := strings.Repeat("compiling github.com/buildit-ci/buildit/activities ok 0.42s; ", 4)[:200]
	withSecret := (plain[:80] + secrets["S7"] + plain)[:200]
	sink := newMaskingSink(discardSink{}, secrets)
	for name, line := range map[string]string{"clean": plain, "secret": withSecret} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				sink.WriteLine("stage", executor.Stdout, line)
			}
		})
	}
}
