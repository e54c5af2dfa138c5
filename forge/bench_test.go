package forge_test

import (
	"net/http"
	"testing"

	"github.com/buildit-ci/buildit/forge"
)

// BenchmarkVerify is the signature check of a 28 KB pull_request payload
// (GitHub's example), done before anything is parsed.
func BenchmarkVerify(b *testing.B) {
	body := load(b, "github/pull_request-opened.json")
	h := http.Header{"X-Hub-Signature-256": {"sha256=" + sign("s3cret", body)}}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := forge.Verify(forge.GitHub, []byte("s3cret"), h, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse reads the same payload into an Event.
func BenchmarkParse(b *testing.B) {
	body := load(b, "github/pull_request-opened.json")
	h := http.Header{"X-Github-Event": {"pull_request"}}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := forge.Parse(forge.GitHub, h, body); err != nil {
			b.Fatal(err)
		}
	}
}
