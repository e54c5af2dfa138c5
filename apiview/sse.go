package apiview

import (
	"bufio"
	"io"
	"strings"
)

// Event is one server-sent event: its id (empty when it has none), its
// name (the event field) and its data (data lines joined by newlines).
type Event struct {
	ID, Name, Data string
}

// maxEventLine bounds one line of a stream: a log line (64 KiB of text)
// with its JSON escaping fits many times over.
const maxEventLine = 1 << 20

// EventReader reads server-sent events (text/event-stream), the one reader
// of them for the client and the tests.
type EventReader struct {
	sc *bufio.Scanner
}

// NewEventReader reads events from r.
func NewEventReader(r io.Reader) *EventReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	return &EventReader{sc: sc}
}

// Next returns the next event: one is complete at the blank line after
// it. Comments (": ping", which keeps proxies from closing an idle
// connection) are skipped. At the end of the stream it returns io.EOF,
// and drops an event cut short; a line over 1 MiB is an error.
func (r *EventReader) Next() (Event, error) {
	var ev Event
	var data []string
	hasData := false
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if ev.Name == "" && !hasData {
				ev = Event{} // a comment, or an id alone: nothing to hand out
				continue
			}
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Name = value
		case "data":
			data, hasData = append(data, value), true
		}
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, err
	}
	return Event{}, io.EOF
}
