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

// BenchmarkMaskLineEveryFormByReplaceAll is what masking the same forms
// would cost with one strings.ReplaceAll per form, as masking did for the
// exact values: the cost grows with the number of forms.
func BenchmarkMaskLineEveryFormByReplaceAll(b *testing.B) {
	var forms []string
	for i := range 10 {
		forms = append(forms, secretForms(fmt.Sprintf("s3cr3t-%02d-%s", i, strings.Repeat("x9Q", 8)))...)
	}
	line := strings.Repeat("compiling github.com/buildit-ci/buildit/activities ok 0.42s; ", 4)[:200]
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		s := line
		for _, f := range forms {
			if strings.Contains(s, f) {
				s = strings.ReplaceAll(s, f, "***")
			}
		}
	}
}

// BenchmarkNewMasker is what a stage attempt pays once for its masker: 10
// secrets of 32 bytes, and one 4 KiB multi-line secret (a kubeconfig).
func BenchmarkNewMasker(b *testing.B) {
	ten := map[string]string{}
	for i := range 10 {
		ten[fmt.Sprintf("S%d", i)] = fmt.Sprintf("s3cr3t-%02d-%s", i, strings.Repeat("x9Q", 8))
	}
	var kc strings.Builder
	for i := 0; kc.Len() < 4096; i++ {
		fmt.Fprintf(&kc, "    client-key-data-%03d: %s\n", i, strings.Repeat("TUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3", 1))
	}
	for name, secrets := range map[string]map[string]string{"10x32B": ten, "4KiB-multiline": {"KUBECONFIG": kc.String()}} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				newMasker(secrets)
			}
		})
	}
}
