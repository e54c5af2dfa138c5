package pipeline

import (
	"strings"
	"testing"
)

// diagLines renders diagnostics without the file name, as "line:col: msg".
func diagLines(ds Diagnostics) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		d.File = ""
		out[i] = d.String()
	}
	return out
}

func TestLoadDiagnostics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "missing pipeline node",
			src:  "stage \"a\" { run \"x\"; }\n",
			want: []string{`1:1: missing pipeline node: start the file with pipeline "NAME"`},
		},
		{
			name: "misspelt top-level node",
			src:  "pipeline \"p\"\nstgae \"a\" { run \"x\"; }\nstage \"b\" { run \"y\"; }\n",
			want: []string{`2:1: unknown node "stgae" in the pipeline file; did you mean "stage"?`},
		},
		{
			name: "misspelt stage child",
			src:  "pipeline \"p\"\nstage \"a\" {\n    imgae \"alpine\"\n    run \"x\"\n}\n",
			want: []string{`3:5: unknown node "imgae" in stage "a"; did you mean "image"?`},
		},
		{
			name: "unknown child with no close name",
			src:  "pipeline \"p\"\nstage \"a\" {\n    frobnicate 1\n    run \"x\"\n}\n",
			want: []string{`3:5: unknown node "frobnicate" in stage "a"`},
		},
		{
			name: "misspelt stage property",
			src:  "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"b\" need=\"a\" { run \"y\"; }\n",
			want: []string{`3:11: unknown property "need" in stage "b"; did you mean "needs"?`},
		},
		{
			name: "wrong value type",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    retry \"two\"\n}\n",
			want: []string{`4:11: retry must be an integer, got a string ("two")`},
		},
		{
			name: "retry out of range",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    retry 99\n}\n",
			want: []string{`4:11: retry must be between 0 and 10, got 99`},
		},
		{
			name: "boolean expected",
			src:  "pipeline \"p\"\nstage \"a\" allow-failure=\"yes\" { run \"x\"; }\n",
			want: []string{`2:25: allow-failure must be #true or #false, got a string ("yes")`},
		},
		{
			name: "duplicate stage names",
			src:  "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"a\" { run \"y\"; }\n",
			want: []string{`3:1: duplicate stage name "a" (first defined at 2:1)`},
		},
		{
			name: "stage and deploy share names",
			src:  "pipeline \"p\"\nstage \"a\" { run \"x\"; }\ndeploy \"a\" { target \"k\"; image \"i\"; }\ntarget \"k\" kind=\"kubernetes\"\n",
			want: []string{`3:1: duplicate stage name "a" (first defined at 2:1)`, `4:1: warning: target "k" is never used`},
		},
		{
			name: "needs an unknown stage as a property",
			src:  "pipeline \"p\"\nstage \"test\" { run \"x\"; }\nstage \"build\" needs=\"tset\" { run \"y\"; }\n",
			want: []string{`3:21: stage "build" needs unknown stage "tset"; did you mean "test"?`},
		},
		{
			name: "needs an unknown stage as a child",
			src:  "pipeline \"p\"\nstage \"a\" { run \"x\"; }\nstage \"b\" {\n    needs \"a\" \"zzz\"\n    run \"y\"\n}\n",
			want: []string{`4:15: stage "b" needs unknown stage "zzz"`},
		},
		{
			name: "needs itself",
			src:  "pipeline \"p\"\nstage \"a\" needs=\"a\" { run \"x\"; }\n",
			want: []string{`2:17: stage "a" needs itself`},
		},
		{
			name: "dependency cycle",
			src: `pipeline "p"
stage "a" needs="b" { run "x"; }
stage "c" needs="a" { run "x"; }
stage "b" needs="c" { run "x"; }
`,
			want: []string{`3:17: dependency cycle: a -> b -> c -> a`},
		},
		{
			name: "two cycles reported once each",
			src: `pipeline "p"
stage "a" needs="b" { run "x"; }
stage "b" needs="a" { run "x"; }
stage "c" needs="d" { run "x"; }
stage "d" needs="c" { run "x"; }
`,
			want: []string{`3:17: dependency cycle: a -> b -> a`, `5:17: dependency cycle: c -> d -> c`},
		},
		{
			name: "bad duration",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    timeout \"20 minutes\"\n}\n",
			want: []string{`4:13: timeout: invalid duration "20 minutes": write a positive number and a unit, like "90s", "20m", "2h" or "3d"`},
		},
		{
			name: "duration must be a string",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    timeout 30\n}\n",
			want: []string{`4:13: timeout must be a string, got an integer (30)`},
		},
		{
			name: "matrix with no values",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    matrix {\n    }\n}\n",
			want: []string{`4:5: matrix has no values: write matrix { NAME "value1" "value2" }`},
		},
		{
			name: "matrix axis with no values",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    matrix {\n        rust\n    }\n}\n",
			want: []string{`5:9: matrix axis "rust" has no values`},
		},
		{
			name: "stage with nothing to do",
			src:  "pipeline \"p\"\nstage \"a\" {\n    image \"alpine\"\n}\n",
			want: []string{`2:1: stage "a" has nothing to do: add run "COMMAND" (or an approval block)`},
		},
		{
			name: "approval gate with commands",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    approval { message \"ok?\"; }\n}\n",
			want: []string{`2:1: stage "a" is an approval gate and cannot also have image or run: put the commands in a stage that needs it`},
		},
		{
			name: "bad when status",
			src:  "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    when status=\"failed\"\n}\n",
			want: []string{`4:17: invalid when status "failed": want one of success, failure, always; did you mean "failure"?`},
		},
		{
			name: "invalid env name",
			src:  "pipeline \"p\"\nenv \"1X\"=\"y\"\nstage \"a\" { run \"x\"; }\n",
			want: []string{`2:5: invalid environment variable name "1X": use letters, digits and _, not starting with a digit`},
		},
		{
			name: "set twice",
			src:  "pipeline \"p\"\nstage \"a\" {\n    image \"x\"\n    image \"y\"\n    run \"z\"\n}\n",
			want: []string{`4:5: image is set twice in stage "a" (first at 3:5)`},
		},
		{
			name: "deploy to unknown target",
			src:  "pipeline \"p\"\ndeploy \"api\" {\n    target \"prod\"\n    image \"x\"\n}\ntarget \"prd\" kind=\"kubernetes\"\n",
			want: []string{`2:1: deploy "api" uses unknown target "prod"; did you mean "prd"?`, `6:1: warning: target "prd" is never used`},
		},
		{
			name: "deploy missing target and image",
			src:  "pipeline \"p\"\ndeploy \"api\" {\n    replicas 2\n}\n",
			want: []string{`2:1: deploy "api" needs a target: target "NAME"`, `2:1: deploy "api" needs an image: image "registry/app:tag"`},
		},
		{
			name: "target with settings but no kind",
			src:  "pipeline \"p\"\ndeploy \"d\" { target \"f\"; image \"i\"; }\ntarget \"f\" {\n    app \"x\"\n}\n",
			want: []string{`3:1: target "f" needs a kind: kind="kubernetes" or kind="fly"`},
		},
		{
			name: "bad target kind",
			src:  "pipeline \"p\"\ntarget \"t\" kind=\"kubernetis\"\n",
			want: []string{`1:1: warning: pipeline has no stages`, `2:1: warning: target "t" is never used`, `2:17: invalid target kind "kubernetis": want one of kubernetes, fly; did you mean "kubernetes"?`},
		},
		{
			name: "fly target needs an app",
			src:  "pipeline \"p\"\ndeploy \"d\" { target \"f\"; image \"i\"; }\ntarget \"f\" kind=\"fly\" {\n    regoin \"ams\"\n}\n",
			want: []string{`3:1: fly target "f" needs an app: app "NAME"`, `4:5: unknown node "regoin" in fly target "f"; did you mean "region"?`},
		},
		{
			name: "unused template is a warning",
			src:  "pipeline \"p\"\ntemplate \"base\" { image \"x\"; }\nstage \"a\" { run \"y\"; }\n",
			want: []string{`2:1: warning: template "base" is never used`},
		},
		{
			name: "unknown template",
			src:  "pipeline \"p\"\ntemplate \"rust\" { image \"x\"; run \"y\"; }\nstage \"a\" extends=\"rsut\"\nstage \"b\" extends=\"rust\"\n",
			want: []string{`3:1: extends unknown template "rsut"; did you mean "rust"?`},
		},
		{
			name: "template cycle",
			src:  "pipeline \"p\"\ntemplate \"x\" { extends \"y\"; }\ntemplate \"y\" { extends \"x\"; }\nstage \"a\" extends=\"x\" { run \"z\"; }\n",
			want: []string{`2:1: templates extend each other in a cycle: x -> y -> x`},
		},
		{
			name: "pipeline declared twice",
			src:  "pipeline \"p\"\npipeline \"q\"\nstage \"a\" { run \"x\"; }\n",
			want: []string{`2:1: pipeline is declared twice (first at 1:1)`},
		},
		{
			name: "every problem at once",
			src: `pipeline "p"
stage "a" {
    run "x"
    timeout "soon"
    retyr 2
}
stage "b" needs="c" { run "y"; }
`,
			want: []string{
				`4:13: timeout: invalid duration "soon": write a positive number and a unit, like "90s", "20m", "2h" or "3d"`,
				`5:5: unknown node "retyr" in stage "a"; did you mean "retry"?`,
				`7:17: stage "b" needs unknown stage "c"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, diags := Load("", []byte(tt.src))
			got := diagLines(diags)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("diagnostics:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
			if diags.HasErrors() != (p == nil) {
				t.Errorf("pipeline returned = %v with errors = %v", p != nil, diags.HasErrors())
			}
		})
	}
}

func TestLoadSyntaxError(t *testing.T) {
	t.Parallel()
	src := "pipeline \"p\"\nstage \"a\" {\n    run \"unterminated\n}\n"
	p, diags := Load("ci.kdl", []byte(src))
	if p != nil || len(diags) != 1 {
		t.Fatalf("want one error and no pipeline, got %v, %v", p, diags)
	}
	d := diags[0]
	if d.File != "ci.kdl" || d.Line < 3 || d.Col < 1 {
		t.Errorf("syntax error at %s, want ci.kdl at line 3 or later", d)
	}
	if !strings.Contains(d.Snippet, "^") {
		t.Errorf("snippet %q has no caret", d.Snippet)
	}
	if !strings.HasPrefix(d.String(), "ci.kdl:") {
		t.Errorf("%q does not start with the file name", d.String())
	}
}

func TestDiagnosticSnippet(t *testing.T) {
	t.Parallel()
	src := "pipeline \"p\"\nstage \"a\" {\n    imgae \"x\"\n    run \"y\"\n}\n"
	_, diags := Load("f.kdl", []byte(src))
	if len(diags) != 1 {
		t.Fatalf("got %v", diags)
	}
	want := "    imgae \"x\"\n    ^"
	if diags[0].Snippet != want {
		t.Errorf("snippet = %q, want %q", diags[0].Snippet, want)
	}
	if got := diags[0].String(); got != `f.kdl:3:5: unknown node "imgae" in stage "a"; did you mean "image"?` {
		t.Errorf("String() = %q", got)
	}
}

func TestLoadKDLv1(t *testing.T) {
	t.Parallel()
	src := "pipeline \"v1\"\nstage \"a\" allow-failure=true {\n    run r\"echo \\n raw\"\n}\n"
	p, diags := Load("v1.kdl", []byte(src))
	if diags.HasErrors() {
		t.Fatalf("KDL 1.0 file rejected: %v", diags)
	}
	s := p.Stages[0]
	if !s.AllowFailure || s.Run[0] != `echo \n raw` {
		t.Errorf("decoded %+v", s)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"90s": "1m30s", "20m": "20m0s", "2h": "2h0m0s", "1h30m": "1h30m0s", "3d": "72h0m0s", "500ms": "500ms"} {
		got, err := ParseDuration(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0s", "-5m", "5", "five minutes", "0d", "1w"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	known := []string{"image", "run", "needs", "timeout", "retry", "allow-failure", "failure"}
	for in, want := range map[string]string{"imgae": "image", "neds": "needs", "timeot": "timeout", "allow_failure": "allow-failure", "xyz": "", "zzzz": "", "r": "", "failed": "failure"} {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// `target "NAME"` alone names one of the tenant's targets (server mode).
func TestTenantTargetReference(t *testing.T) {
	p, diags := Load("t.kdl", []byte("pipeline \"p\"\ndeploy \"d\" { target \"prod\"; image \"i\"; }\ntarget \"prod\"\n"))
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", diags)
	}
	if tg := p.Targets["prod"]; tg.Kind != "" || tg.Name != "prod" {
		t.Errorf("target %+v", tg)
	}
}
