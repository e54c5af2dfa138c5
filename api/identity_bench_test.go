package api

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// How long login and signup take for an email with an account and one
// without, through the whole stack: they must not tell the two apart.
// Each iteration sends one request of each kind, in alternating order, so
// that the load of the machine weighs on both alike; the medians and their
// difference are reported.
//
//	go test -run '^$' -bench BenchmarkLoginSignupTiming -benchtime 50x ./api
func BenchmarkLoginSignupTiming(b *testing.B) {
	e := setup(b)
	e.api.loginByEmail = newLimiter(time.Microsecond, 1000)
	e.signup("ann@acme.test", "Acme")
	anon := e.anon()
	timed := func(fn func()) time.Duration {
		t0 := time.Now()
		fn()
		return time.Since(t0)
	}
	report := func(b *testing.B, existing, unknown []time.Duration) {
		p50 := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2].Microseconds()) / 1000
		}
		ex, un := p50(existing), p50(unknown)
		b.ReportMetric(ex, "existing-p50-ms")
		b.ReportMetric(un, "unknown-p50-ms")
		b.ReportMetric(ex-un, "diff-ms")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("login-wrong-password-vs-unknown-email", func(b *testing.B) {
		var existing, unknown []time.Duration
		i := 0
		for b.Loop() {
			known := func() {
				anon.must(401, "POST", "/auth/login", map[string]string{"email": "ann@acme.test", "password": "not her passphrase"})
			}
			nobody := func() {
				anon.must(401, "POST", "/auth/login", map[string]string{"email": "nobody" + strconv.Itoa(i) + "@acme.test", "password": "not her passphrase"})
			}
			if i%2 == 0 {
				existing, unknown = append(existing, timed(known)), append(unknown, timed(nobody))
			} else {
				unknown, existing = append(unknown, timed(nobody)), append(existing, timed(known))
			}
			i++
		}
		report(b, existing, unknown)
	})
	signup := func(b *testing.B, floor time.Duration) {
		e.api.signupFloor = floor
		var existing, unknown []time.Duration
		i := 0
		for b.Loop() {
			n := floor.String() + "-" + strconv.Itoa(i)
			taken := func() {
				anon.must(202, "POST", "/auth/signup", signupBody("ann@acme.test", "a fine long passphrase", "Twin", "Taken "+n))
			}
			fresh := func() {
				anon.must(202, "POST", "/auth/signup", signupBody("new"+n+"@acme.test", "a fine long passphrase", "New", "Fresh "+n))
			}
			if i%2 == 0 {
				existing, unknown = append(existing, timed(taken)), append(unknown, timed(fresh))
			} else {
				unknown, existing = append(unknown, timed(fresh)), append(existing, timed(taken))
			}
			i++
		}
		report(b, existing, unknown)
	}
	// The work alone, then as served: with the floor New sets.
	b.Run("signup-taken-vs-new-email-no-floor", func(b *testing.B) { signup(b, 0) })
	b.Run("signup-taken-vs-new-email", func(b *testing.B) { signup(b, defaultSignupFloor) })
}
