package remote

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Follow goes on after the server ends an idle stream, after a 429 for the
// tenant's followers, after a stream that breaks and after a 503, each
// time from the id of the last event it got, and delivers every event
// once; a 404 ends it at once.
func TestFollowReconnects(t *testing.T) {
	followBackoff = 10 * time.Millisecond
	var mu sync.Mutex
	var gotIDs []string
	steps := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) {
			fmt.Fprint(w, "id: 1:1\nevent: line\ndata: {\"seq\":1,\"line\":\"one\"}\n\n")
			fmt.Fprint(w, ": ping\n\n")
			fmt.Fprint(w, "id: 1:2\nevent: line\ndata: {\"seq\":2,\"line\":\"two\"}\n\n")
			fmt.Fprint(w, "id: 1:2\nevent: idle\ndata: {\"stage\":\"build\",\"attempt\":1,\"next\":2}\n\n")
		},
		func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"too many"}}`)
		},
		func(w http.ResponseWriter) {
			fmt.Fprint(w, "id: 1:3\nevent: line\ndata: {\"seq\":3,\"line\":\"three\"}\n\n")
			fmt.Fprint(w, "id: 1:4\nevent: li") // cut in the middle of an event
		},
		func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusServiceUnavailable)
		},
		func(w http.ResponseWriter) {
			fmt.Fprint(w, "id: 2:0\nevent: attempt\ndata: {\"stage\":\"build\",\"attempt\":2}\n\n")
			fmt.Fprint(w, "id: 2:1\nevent: line\ndata: {\"seq\":1,\"line\":\"again\"}\n\n")
			fmt.Fprint(w, "event: end\ndata: {\"stage\":\"build\",\"attempt\":2,\"status\":\"succeeded\"}\n\n")
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n := len(gotIDs)
		gotIDs = append(gotIDs, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		if n >= len(steps) || r.URL.Query().Get("follow") != "1" {
			http.NotFound(w, r)
			return
		}
		if n != 1 && n != 3 {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		steps[n](w)
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, Token: "k"}

	var got []string
	err := c.Follow(context.Background(), Scope{Org: "o", Tenant: "t"}, "app", 1, "build", func(ev FollowEvent) {
		switch {
		case ev.Line != nil:
			got = append(got, ev.Line.Line)
		case ev.Attempt > 0:
			got = append(got, fmt.Sprint("attempt ", ev.Attempt))
		default:
			got = append(got, "end "+ev.Status)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "one two three attempt 2 again end succeeded"; strings.Join(got, " ") != want {
		t.Errorf("events %q, want %q", strings.Join(got, " "), want)
	}
	if want := ",1:2,1:2,1:3,1:3"; strings.Join(gotIDs, ",") != want {
		t.Errorf("Last-Event-IDs %q, want %q", strings.Join(gotIDs, ","), want)
	}

	// A stage that is not there is not tried again.
	mu.Lock()
	gotIDs = make([]string, len(steps))
	mu.Unlock()
	err = c.Follow(context.Background(), Scope{Org: "o", Tenant: "t"}, "app", 1, "build", func(FollowEvent) {})
	mu.Lock()
	defer mu.Unlock()
	if !IsNotFound(err) || len(gotIDs) != len(steps)+1 {
		t.Errorf("following a stage that is not there: %v after %d requests", err, len(gotIDs)-len(steps))
	}
}
