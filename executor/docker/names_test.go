package docker

import (
	"regexp"
	"strings"
	"testing"
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func TestContainerName(t *testing.T) {
	long := strings.Repeat("x", 80)
	for _, tc := range []struct {
		name    string
		run     string
		stage   string
		attempt int
		want    string // "" when only the rules are checked
	}{
		{"plain", "run1", "build", 1, "buildit-run1-build-1"},
		{"matrix", "run1", "test [os=linux, go=1.25]", 2, ""},
		{"unicode", "run1", "тест", 1, ""},
		{"empty stage", "run1", "", 1, ""},
		{"long stage", "run1", long, 1, ""},
		{"long run", long, "build", 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ContainerName(tc.run, tc.stage, tc.attempt)
			if tc.want != "" && got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if !validName.MatchString(got) || len(got) > maxName {
				t.Errorf("%q breaks Docker's name rules or is longer than %d", got, maxName)
			}
			if again := ContainerName(tc.run, tc.stage, tc.attempt); again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestContainerNamesUnique(t *testing.T) {
	seen := map[string]string{}
	long := strings.Repeat("y", 70)
	stages := []string{
		"test [os=linux, go=1.25]", "test [os=linux, go=1.26]", "test (os=linux, go=1.25)",
		"test-os-linux-go-1.25", "a b", "a,b", "a-b", "a--b", long + "1", long + "2",
	}
	for _, s := range stages {
		for attempt := 1; attempt <= 2; attempt++ {
			n := ContainerName("run", s, attempt)
			if prev, dup := seen[n]; dup {
				t.Errorf("%q and %q (attempt %d) share name %q", prev, s, attempt, n)
			}
			seen[n] = s
		}
	}
}
