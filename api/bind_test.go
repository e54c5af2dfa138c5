package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

func TestBind(t *testing.T) {
	gin.SetMode(gin.TestMode)
	type body struct {
		Name  string   `json:"name"`
		Count int      `json:"count"`
		Tags  []string `json:"tags"`
	}
	for name, tc := range map[string]struct {
		body, ctype string
		status      int
		want        string
	}{
		"ok":            {`{"name":"a","count":2,"tags":["x"]}`, "application/json", 0, ""},
		"ok no type":    {`{"name":"a"}`, "", 0, ""},
		"empty":         {``, "application/json", 400, "the body is empty"},
		"malformed":     {`{"name":`, "application/json", 400, "ends in the middle"},
		"syntax":        {`{"name" "a"}`, "application/json", 400, "malformed JSON at byte"},
		"wrong type":    {`{"count":"two"}`, "application/json", 400, `field "count": want a number, got string`},
		"wrong type 2":  {`{"tags":"x"}`, "application/json", 400, `field "tags": want an array, got string`},
		"not an object": {`[1,2]`, "application/json", 400, "must be a JSON object"},
		"unknown field": {`{"name":"a","admin":true}`, "application/json", 400, `unknown field "admin"`},
		"two values":    {`{"name":"a"} {"name":"b"}`, "application/json", 400, "more than one JSON value"},
		"trailing junk": {`{"name":"a"} x`, "application/json", 400, "malformed JSON"},
		"form":          {`name=a`, "application/x-www-form-urlencoded", 415, "application/json"},
		"too large":     {`{"name":"` + strings.Repeat("a", MaxBody) + `"}`, "application/json", 413, "over 1048576 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			if tc.ctype != "" {
				c.Request.Header.Set("Content-Type", tc.ctype)
			}
			var v body
			err := bind(c, &v)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("bind: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tc.status || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("bind = %v, want %d with %q", err, tc.status, tc.want)
			}
		})
	}
}

func TestSlugs(t *testing.T) {
	for in, want := range map[string]string{
		"Acme Corp.":               "acme-corp",
		"  Zürich   Ops  ":         "zurich-ops",
		"Ünïcödé Tëst":             "unicode-test",
		"a":                        "",
		"!!!":                      "",
		"日本":                       "",
		"Team 42 -- Alpha_":        "team-42-alpha",
		strings.Repeat("abc ", 30): "abc-abc-abc-abc-abc-abc-abc-abc-abc-abc",
	} {
		if got := slugify(in); got != want {
			t.Errorf("slugify(%q) = %q, want %q", in, got, want)
		}
		if want != "" {
			if err := checkSlug("slug", want); err != nil {
				t.Errorf("checkSlug(%q): %v", want, err)
			}
		}
	}
	for _, bad := range []string{"", "a", "-ab", "ab-", "a--b", "Ab", "a_b", "a.b", strings.Repeat("a", 41), "api"} {
		if checkSlug("slug", bad) == nil {
			t.Errorf("checkSlug(%q) accepted", bad)
		}
	}
}

func TestEmails(t *testing.T) {
	for in, want := range map[string]string{
		"Ann@Example.COM":        "Ann@example.com",
		" bob@example.org ":      "bob@example.org",
		"a.b+tag@sub.example.io": "a.b+tag@sub.example.io",
	} {
		got, err := checkEmail(in)
		if err != nil || got != want {
			t.Errorf("checkEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "bob", "bob@", "@example.com", "Bob <bob@example.com>", "bob@localhost", "a b@example.com"} {
		if _, err := checkEmail(bad); err == nil {
			t.Errorf("checkEmail(%q) accepted", bad)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(time.Minute, 3)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.allow("ip"); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, retry := l.allow("ip")
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("4th attempt: ok=%v retry=%v", ok, retry)
	}
	if ok, _ := l.allow("other"); !ok {
		t.Error("another key shares the bucket")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.allow("ip"); !ok {
		t.Error("no token after a minute")
	}
	now = now.Add(time.Hour)
	l.allow("x")
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after an idle hour, want 1 (idle keys swept)", len(l.buckets))
	}
}
