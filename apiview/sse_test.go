package apiview

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEventReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stream string
		want   []Event
		err    error
	}{
		{name: "events", stream: "id: 1:1\nevent: line\ndata: {\"seq\":1}\n\n: ping\n\nevent: end\ndata: {}\n\n",
			want: []Event{{ID: "1:1", Name: "line", Data: `{"seq":1}`}, {Name: "end", Data: "{}"}}, err: io.EOF},
		{name: "no space after the colon", stream: "event:line\ndata:x\n\n", want: []Event{{Name: "line", Data: "x"}}, err: io.EOF},
		{name: "data lines joined", stream: "data: a\ndata: b\n\n", want: []Event{{Data: "a\nb"}}, err: io.EOF},
		{name: "cut in the middle", stream: "id: 1:3\nevent: line\ndata: {}\n\nid: 1:4\nevent: li",
			want: []Event{{ID: "1:3", Name: "line", Data: "{}"}}, err: io.EOF},
		{name: "line too long", stream: "data: " + strings.Repeat("x", maxEventLine) + "\n\n", err: errors.New("too long")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := NewEventReader(strings.NewReader(tc.stream))
			var got []Event
			var err error
			for {
				var ev Event
				if ev, err = r.Next(); err != nil {
					break
				}
				got = append(got, ev)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("events %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("event %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if errors.Is(tc.err, io.EOF) && !errors.Is(err, io.EOF) || !errors.Is(tc.err, io.EOF) && (err == nil || errors.Is(err, io.EOF)) {
				t.Errorf("err = %v, want %v", err, tc.err)
			}
		})
	}
}
