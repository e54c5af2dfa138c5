package pipeline

import (
	"fmt"
	"testing"
)

// BenchmarkTriggered decides a push of 1000 changed files against a
// pipeline with branch, paths and paths-ignore filters: what a webhook
// does for each pipeline of the pushed repository.
func BenchmarkTriggered(b *testing.B) {
	plan := *NewPlan(mustLoad(b, triggersSrc))
	changed := make([]string, 1000)
	for i := range changed {
		changed[i] = fmt.Sprintf("docs/section-%d/page-%d.md", i%10, i)
	}
	changed[999] = "src/pkg/main.go"
	ev := Event{Kind: "push", Branch: "release/1.2/hotfix", Changed: changed}
	b.ReportAllocs()
	for b.Loop() {
		if !plan.Triggered(ev) {
			b.Fatal("not triggered")
		}
	}
}

// BenchmarkLoadTriggers loads a pipeline with on and inputs.
func BenchmarkLoadTriggers(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if p, diags := Load("p.kdl", []byte(triggersSrc)); p == nil {
			b.Fatal(diags)
		}
	}
}

func mustLoad(b *testing.B, src string) *Pipeline {
	b.Helper()
	p, diags := Load("p.kdl", []byte(src))
	if p == nil {
		b.Fatal(diags)
	}
	return p
}
