package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/buildit-ci/buildit/internal/bombtest"
	"github.com/buildit-ci/buildit/pipeline"
)

// The pipeline bombs of issue 11 are refused with one message, before
// memory grows: each call must allocate well under what the unbounded code
// took (5.9 GB for the 5×20 matrix, 2.1 GB for the template chain).
const bombBound = 64 * bombtest.MiB

// compile is what the API does with a pushed pipeline, under the default
// limits, measured.
func compile(t *testing.T, src string) pipeline.Diagnostics {
	t.Helper()
	var diags pipeline.Diagnostics
	bombtest.Bound(t, bombBound, func() {
		var err error
		_, diags, err = pipeline.DefaultLimits.Compile(context.Background(), "bomb.kdl", []byte(src))
		if err != nil {
			t.Errorf("Compile: %v", err)
		}
	})
	return diags
}

// wantRefused checks that diags hold exactly one error, at want (a
// "line:col: message" prefix).
func wantRefused(t *testing.T, diags pipeline.Diagnostics, want string) {
	t.Helper()
	errs := diags.Errors()
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want one:\n%s", len(errs), errs.Error())
	}
	d := errs[0]
	d.File = ""
	if got := d.String(); !strings.HasPrefix(got, want) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !d.Limit || !errs.OnlyLimits() {
		t.Errorf("the error is not marked as a limit's: %+v", d)
	}
}

func TestSecurityMatrixBomb(t *testing.T) {
	tests := []struct {
		axes, values int
		want         string
	}{
		{20, 5, `4:5: stage "boom" has 95367431640625 matrix instances (20 axes: 5×5×5×5×5×5×…); the limit is 256 per stage`},
		{20, 4, `4:5: stage "boom" has 1099511627776 matrix instances (20 axes: 4×4×4×4×4×4×…); the limit is 256 per stage`},
		{10, 6, `4:5: stage "boom" has 60466176 matrix instances (10 axes: 6×6×6×6×6×6×…); the limit is 256 per stage`},
		// The product overflows an int64: counted with a check, not
		// wrapped round to a small number.
		{64, 3, `4:5: stage "boom" has more than 9223372036854775807 matrix instances (64 axes: 3×3×3×3×3×3×…); the limit is 256 per stage`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.values, tt.axes), func(t *testing.T) {
			wantRefused(t, compile(t, bombtest.Matrix(tt.axes, tt.values)), tt.want)
		})
	}
}

// denseMatrix is a matrix within the instance limits that still multiplies
// text: each of its 256 instances substitutes two 2 KB values into a run
// command that refers to them refs times.
func denseMatrix(refs int) string {
	values := func(axis string) string {
		var b strings.Builder
		for v := range 16 {
			fmt.Fprintf(&b, " \"%s%02d%s\"", axis, v, strings.Repeat("x", 2000))
		}
		return b.String()
	}
	return "pipeline \"dense\"\nstage \"dense\" {\n    run \"" + strings.Repeat("${matrix.a}${matrix.b}", refs) +
		"\"\n    matrix {\n        a" + values("a") + "\n        b" + values("b") + "\n    }\n}\n"
}

func TestSecurityMatrixTextBomb(t *testing.T) {
	dense := denseMatrix
	// 256 instances of a 4 MB command: a GB of plan from 100 KB of file.
	t.Run("one instance", func(t *testing.T) {
		wantRefused(t, compile(t, dense(1000)),
			`2:1: stage "dense": with its matrix expanded the plan grows past 1 MiB, the limit on what expansion produces`)
	})
	// 256 instances of 8 KB each: no single one is large.
	t.Run("instances together", func(t *testing.T) {
		wantRefused(t, compile(t, dense(2)),
			`2:1: stage "dense": with its matrix expanded the plan grows past 1 MiB, the limit on what expansion produces`)
	})
}

func TestSecurityTemplateChainBomb(t *testing.T) {
	wantRefused(t, compile(t, bombtest.TemplateChain(6000)),
		`2:1: templates extend each other more than 16 deep: t1 -> t2 -> t3 -> … -> t17 -> …; the limit is 16`)
}

// A chain within the depth limit multiplies too when many templates or
// stages extend one large template.
func TestSecurityTemplateFanOutBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("pipeline \"fan\"\ntemplate \"base\" {\n    env {\n")
	const n = 6000
	for i := range n {
		fmt.Fprintf(&b, "        K%d \"value %d\"\n", i, i)
	}
	b.WriteString("    }\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "template \"x%d\" extends=\"base\"\n", i)
	}
	b.WriteString("stage \"s\" extends=\"base\" { run \"env\"; }\n")
	diags := compile(t, b.String())
	errs := diags.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Message, `extends template "base": with templates applied the stages grow past 1 MiB, the limit on what expansion produces`) {
		t.Errorf("got %v, want one error about the size of the stages with templates applied", errs)
	}
}

func TestSecurityPipelineFileTooLarge(t *testing.T) {
	const want = "1:1: the file is larger than 1 MiB, the limit for a pipeline file"
	t.Run("Load", func(t *testing.T) {
		src := "pipeline \"big\"\nstage \"a\" { run \"x\"; }\n// "
		src += strings.Repeat("x", pipeline.DefaultLimits.FileBytes+1-len(src)) + "\n"
		wantRefused(t, compile(t, src), want)
	})
	// LoadFile reads no more than the limit: a file of a GiB is refused
	// without being read.
	t.Run("LoadFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "huge.kdl")
		if err := os.WriteFile(path, []byte("pipeline \"huge\"\n// "), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 1<<30); err != nil { // sparse: no disk used
			t.Fatal(err)
		}
		var diags pipeline.Diagnostics
		bombtest.Bound(t, bombBound, func() {
			var err error
			_, diags, err = pipeline.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
		})
		wantRefused(t, diags, want)
	})
}

func TestSecurityTooManyStages(t *testing.T) {
	wantRefused(t, compile(t, bombtest.Stages(1001)),
		"1002:1: too many stages: a pipeline declares at most 1000 stage and deploy nodes")
}

func TestSecurityTooManyInstancesInPlan(t *testing.T) {
	// Four stages of 256 instances each: every one within the limit per
	// stage, 1,024 together.
	var b strings.Builder
	b.WriteString("pipeline \"many\"\n")
	for i := 1; i <= 4; i++ {
		fmt.Fprintf(&b, "stage \"m%d\" {\n    run \"echo ${matrix.x} ${matrix.y}\"\n    matrix {\n        x", i)
		for v := range 16 {
			fmt.Fprintf(&b, " %d", v)
		}
		b.WriteString("\n        y")
		for v := range 16 {
			fmt.Fprintf(&b, " %d", v)
		}
		b.WriteString("\n    }\n}\n")
	}
	wantRefused(t, compile(t, b.String()),
		`23:1: the pipeline has more than 1000 stage instances (stages with their matrix expanded) with stage "m4"; the limit is 1000 per pipeline`)
}

// typos is a file of n unknown nodes on one line.
func typos(n int) string { return "pipeline \"p\"\n" + strings.Repeat("a;", n) }

// A file of many small errors on one long line: each diagnostic's snippet
// copied the whole line, a million-message response in the making.
func TestSecurityDiagnosticsBomb(t *testing.T) {
	const nodes = 100_000
	diags := compile(t, typos(nodes))
	if len(diags) != pipeline.MaxDiagnostics+1 {
		t.Fatalf("got %d diagnostics, want %d and one that counts the rest", len(diags), pipeline.MaxDiagnostics+1)
	}
	last := diags[len(diags)-1]
	// The rest are the errors and the warning that the pipeline has no
	// stages.
	if want := fmt.Sprintf("too many problems: %d more not shown (%d of them errors)", nodes-pipeline.MaxDiagnostics+1, nodes-pipeline.MaxDiagnostics); !strings.Contains(last.Message, want) {
		t.Errorf("last diagnostic %q, want it to say %q", last.Message, want)
	}
	for _, d := range diags {
		if len(d.Snippet) > 1000 {
			t.Fatalf("snippet of %d bytes at %d:%d, want a window of the line", len(d.Snippet), d.Line, d.Col)
		}
	}
}

// Planning stops when its context ends: the API plans under the request's
// context, so a client that leaves stops the work.
func TestSecurityPlanStopsWhenContextEnds(t *testing.T) {
	src := bombtest.Matrix(4, 4) // 256 instances: valid, and some work to plan
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	plan, _, err := pipeline.DefaultLimits.Compile(ctx, "p.kdl", []byte(src))
	if !errors.Is(err, context.Canceled) || plan != nil {
		t.Errorf("Compile with an ended context: plan %t, error %v; want no plan and context.Canceled", plan != nil, err)
	}
	p, diags := pipeline.Load("p.kdl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if plan, err := p.Plan(ctx); !errors.Is(err, context.Canceled) || plan != nil {
		t.Errorf("Plan with an ended context: plan %t, error %v; want no plan and context.Canceled", plan != nil, err)
	}
	if plan, err := p.Plan(context.Background()); err != nil || len(plan.Steps) != 256 {
		t.Errorf("Plan: %v; want 256 steps", err)
	}
}

// Pipelines at the limits are valid, and an operator can raise them.
func TestLimitsAtTheirValues(t *testing.T) {
	chain, stages := bombtest.TemplateChain, bombtest.Stages
	raised := pipeline.Limits{Matrix: 1024, Instances: 1024, TemplateDepth: 20, Stages: 1001}
	tests := []struct {
		name  string
		lim   pipeline.Limits
		src   string
		steps int
	}{
		{"256 instances", pipeline.Limits{}, bombtest.Matrix(4, 4), 256},
		{"16 templates deep", pipeline.DefaultLimits, chain(16), 1},
		{"1000 stages", pipeline.DefaultLimits, stages(1000), 1000},
		{"raised matrix", raised, bombtest.Matrix(5, 4), 1024},
		{"raised depth", raised, chain(20), 1},
		{"raised stages", raised, stages(1001), 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, diags, err := tt.lim.Compile(context.Background(), "p.kdl", []byte(tt.src))
			if err != nil || diags.HasErrors() {
				t.Fatalf("Compile: %v\n%s", err, diags.Errors().Error())
			}
			if len(plan.Steps) != tt.steps {
				t.Errorf("%d steps, want %d", len(plan.Steps), tt.steps)
			}
		})
	}
	// One more than the raised limits is refused again.
	_, diags, _ := raised.Compile(context.Background(), "p.kdl", []byte(chain(21)))
	if !strings.Contains(diags.Error(), "more than 20 deep") {
		t.Errorf("a chain of 21 under a limit of 20: %v", diags)
	}
}

// BenchmarkRefuseBomb measures what refusing each bomb costs (B/op is the
// memory bound the tests assert), beside planning a valid pipeline at the
// limits.
func BenchmarkRefuseBomb(b *testing.B) {
	for _, bb := range []struct {
		name, src string
		valid     bool
	}{
		{"matrix-5x20", bombtest.Matrix(20, 5), false},
		{"matrix-6x10", bombtest.Matrix(10, 6), false},
		{"matrix-text", denseMatrix(1000), false},
		{"template-chain-6000", bombtest.TemplateChain(6000), false},
		{"stages-1001", bombtest.Stages(1001), false},
		{"typos-100000", typos(100_000), false},
		{"valid-256-instances", bombtest.Matrix(4, 4), true},
		{"valid-1000-stages", bombtest.Stages(1000), true},
	} {
		b.Run(bb.name, func(b *testing.B) {
			src := []byte(bb.src)
			b.ReportAllocs()
			for b.Loop() {
				_, diags, err := pipeline.DefaultLimits.Compile(context.Background(), "bomb.kdl", src)
				if err != nil || diags.HasErrors() == bb.valid {
					b.Fatalf("Compile: %v %v", err, diags.Errors())
				}
			}
		})
	}
}
