package triggers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/buildit-ci/buildit/forge"
)

// EncodeEventInput cuts what a sender controls to the bounds: the
// message at MaxMessage on a rune boundary, changed paths over MaxChanged
// or too large together dropped (unknown), and refuses an event over
// MaxEventInput even cut; an event within the bounds is kept whole.
func TestEncodeEventInputBounds(t *testing.T) {
	t.Parallel()
	decode := func(b []byte) EventInput {
		t.Helper()
		var in EventInput
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatal(err)
		}
		return in
	}
	small := EventInput{RepositoryID: "r", Event: forge.Event{Kind: forge.EventPush, Message: "fix", Changed: []string{"a.go"}}}
	b, err := EncodeEventInput(&small)
	if got := decode(b); err != nil || got.Event.Message != "fix" || len(got.Event.Changed) != 1 {
		t.Errorf("a small event: %+v %v", got, err)
	}

	long := EventInput{Event: forge.Event{Message: strings.Repeat("é", MaxMessage)}} // 2 bytes a rune
	b, err = EncodeEventInput(&long)
	msg := decode(b).Event.Message
	if err != nil || len(msg) > MaxMessage || len(msg) < MaxMessage-4 || !utf8.ValidString(msg) {
		t.Errorf("a long message: %d bytes, valid %v, %v", len(msg), utf8.ValidString(msg), err)
	}

	many := EventInput{Event: forge.Event{Changed: make([]string, MaxChanged+1)}}
	if b, err = EncodeEventInput(&many); err != nil || decode(b).Event.Changed != nil {
		t.Errorf("too many changed paths: %v", err)
	}
	wide := EventInput{Event: forge.Event{Changed: []string{strings.Repeat("p", MaxEventInput)}}}
	if b, err = EncodeEventInput(&wide); err != nil || decode(b).Event.Changed != nil || len(b) > MaxEventInput {
		t.Errorf("changed paths over the bound: %d bytes, %v", len(b), err)
	}

	huge := EventInput{Event: forge.Event{Branch: strings.Repeat("b", MaxEventInput)}}
	if _, err = EncodeEventInput(&huge); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("an event over the bound even cut: %v", err)
	}
}
