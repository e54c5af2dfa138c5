package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

func TestArtifactsAndCacheDiagnostics(t *testing.T) {
	t.Parallel()
	stage := func(body string) string {
		return "pipeline \"p\"\nstage \"a\" {\n    run \"x\"\n    " + body + "\n}\n"
	}
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"absolute artifacts path", stage(`artifacts "/etc/passwd"`), `4:15: artifacts path "/etc/passwd" is absolute: paths are relative to the workspace`},
		{"artifacts path with ..", stage(`artifacts "dist/../../x"`), `4:15: artifacts path "dist/../../x" leaves the workspace ("..")`},
		{"artifacts in home", stage(`artifacts "~/x"`), `4:15: artifacts path "~/x" is in a home folder: artifacts are relative to the workspace`},
		{"artifacts without path", stage(`artifacts name="x"`), `4:5: artifacts names no path: artifacts "dist/app" "reports/*.xml"`},
		{"artifacts bad when", stage(`artifacts "x" when="sometimes"`), `4:24: invalid artifacts when "sometimes": want one of success, always, failure`},
		{"artifacts bad optional", stage(`artifacts "x" optional="yes"`), `4:28: optional must be #true or #false, got a string ("yes")`},
		{"artifacts name with slash", stage(`artifacts "x" name="../b"`), `4:24: artifacts name "../b" has a slash: a name is one folder's name`},
		{"artifacts name dot dot", stage(`artifacts "x" name=".."`), `4:24: artifacts name ".." is not a name`},
		{"artifacts unknown property", stage(`artifacts "x" naem="b"`), `4:19: unknown property "naem" in artifacts; did you mean "name"?`},
		{"absolute cache path", stage(`cache "/usr/local/cargo"`), `4:11: cache path "/usr/local/cargo" is absolute: paths are relative to the workspace, or ~/... in the stage's home`},
		{"cache path with ..", stage(`cache "~/../other"`), `4:11: cache path "~/../other" leaves the workspace ("..")`},
		{"cache in another home", stage(`cache "~root/x"`), `4:11: cache path "~root/x" names another user's home: use ~/...`},
		{"cache bad expression", stage(`cache "t" key="k-{{ env.X }}"`), `4:19: cache key: {{ env.X }}: the only expression is {{ hashFiles('glob', ...) }}`},
		{"cache unclosed expression", stage(`cache "t" key="k-{{ hashFiles('a')"`), `4:19: cache key: {{ is not closed with }}`},
		{"cache hashFiles unquoted", stage(`cache "t" key="{{ hashFiles(go.sum) }}"`), `4:19: cache key: {{ hashFiles(go.sum) }}: hashFiles takes quoted globs, like hashFiles('go.sum')`},
		{"cache hashFiles escaping", stage(`cache "t" key="{{ hashFiles('../x') }}"`), `4:19: cache key: hashFiles glob "../x" leaves the workspace ("..")`},
		{"cache bad variable", stage(`cache "t" key="${1X}"`), `4:19: cache key: ${1X} is not a variable name`},
		{"cache empty restore-keys", stage(`cache "t" restore-keys=" "`), `4:28: restore-keys names no prefix: restore-keys="cargo- deps-"`},
		{"cache unknown property", stage(`cache "t" restore-key="a"`), `4:15: unknown property "restore-key" in cache; did you mean "restore-keys"?`},
		{
			"duplicate artifacts names",
			"pipeline \"p\"\nstage \"a\" { run \"x\"; artifacts \"x\" name=\"out\"; }\nstage \"b\" { run \"x\"; artifacts \"y\" name=\"out\"; }\n",
			`3:22: artifacts name "out" is used twice in the pipeline (first at 2:22): give one name="..."`,
		},
		{
			"default name taken",
			"pipeline \"p\"\nstage \"a\" { run \"x\"; artifacts \"x\"; artifacts \"y\"; }\nstage \"b\" { run \"x\"; artifacts \"y\" name=\"a-2\"; }\n",
			`3:22: artifacts name "a-2" is used twice in the pipeline (first at 2:37): give one name="..."`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, diags := Load("test.kdl", []byte(tc.src))
			got := diagLines(diags)
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestArtifactsNamesInPlan(t *testing.T) {
	t.Parallel()
	src := `pipeline "p"
template "t" { artifacts "out/*.xml" when="always" optional=#true; }
stage "build" {
    run "make"
    artifacts "dist/app" "dist/lib/**"
    artifacts "reports" name="reports" when="failure"
}
stage "test" {
    extends "t"
    run "x"
    matrix { os "linux" "mac"; }
    cache "target" "~/.cargo" key="cargo-${MATRIX_OS}-{{ hashFiles('Cargo.lock', '**/go.sum') }}" restore-keys="cargo-${MATRIX_OS}- cargo-"
}
`
	p, diags := Load("test.kdl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	plan := NewPlan(p)
	got := map[string]ArtifactSpec{}
	for _, st := range plan.Steps {
		for _, a := range st.Artifacts {
			got[a.Name] = a
		}
	}
	want := map[string]ArtifactSpec{
		"build":           {Name: "build", Paths: []string{"dist/app", "dist/lib/**"}},
		"reports":         {Name: "reports", Paths: []string{"reports"}, When: "failure"},
		"test [os=linux]": {Name: "test [os=linux]", Paths: []string{"out/*.xml"}, When: "always", Optional: true},
		"test [os=mac]":   {Name: "test [os=mac]", Paths: []string{"out/*.xml"}, When: "always", Optional: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("artifacts:\n got %+v\nwant %+v", got, want)
	}
	c := plan.Step("test [os=mac]").Cache[0]
	if !reflect.DeepEqual(c.RestoreKeys, []string{"cargo-${MATRIX_OS}-", "cargo-"}) || !reflect.DeepEqual(c.Paths, []string{"target", "~/.cargo"}) {
		t.Fatalf("cache: %+v", c)
	}
	k, err := ParseCacheKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	var hashed []string
	key, err := k.Expand(map[string]string{"MATRIX_OS": "mac"}, func(g []string) (string, error) {
		hashed = g
		return "H", nil
	})
	if err != nil || key != "cargo-mac-H" || strings.Join(hashed, ",") != "Cargo.lock,**/go.sum" {
		t.Fatalf("key %q (%v), hashed %q", key, err, hashed)
	}
}

func TestArtifactsKeepsAfter(t *testing.T) {
	t.Parallel()
	for when, want := range map[string][2]bool{"": {true, false}, "success": {true, false}, "always": {true, true}, "failure": {false, true}} {
		a := ArtifactSpec{When: when}
		if a.KeepsAfter(true) != want[0] || a.KeepsAfter(false) != want[1] {
			t.Errorf("when %q: after success %v, after failure %v; want %v", when, a.KeepsAfter(true), a.KeepsAfter(false), want)
		}
	}
}
