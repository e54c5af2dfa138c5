package buildit_test

import (
	"encoding/json"
	"testing"

	"github.com/buildit-ci/buildit"
)

// TestTriggerEmbedsFlat checks what workflow inputs rely on: a Trigger
// embedded in a struct puts its fields at that struct's top level in JSON,
// where recorded histories have them.
func TestTriggerEmbedsFlat(t *testing.T) {
	in := struct {
		RunID string `json:"run_id"`
		buildit.Trigger
	}{RunID: "r", Trigger: buildit.Trigger{Branch: "main", Commit: "abc", Event: "push"}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"run_id":"r","branch":"main","commit":"abc","event":"push"}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
