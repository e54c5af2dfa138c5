package forge_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"

	"github.com/buildit-ci/buildit/forge"
)

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func TestSecurityWebhookSignatures(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	body := []byte("Hello, World!")
	good := sign(secret, body)
	// GitHub's documented test vector ("Validating webhook deliveries").
	const githubVector = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if good != githubVector {
		t.Fatalf("HMAC of GitHub's example = %s, want %s", good, githubVector)
	}
	other := sign("another secret", body)
	cases := []struct {
		name   string
		kind   forge.Kind
		secret string
		header http.Header
		ok     bool
	}{
		{"github good", forge.GitHub, secret, header("X-Hub-Signature-256", "sha256="+good), true},
		{"github uppercase hex", forge.GitHub, secret, header("X-Hub-Signature-256", "sha256="+upper(good)), true},
		{"github missing", forge.GitHub, secret, header(), false},
		{"github without prefix", forge.GitHub, secret, header("X-Hub-Signature-256", good), false},
		{"github wrong", forge.GitHub, secret, header("X-Hub-Signature-256", "sha256="+other), false},
		{"github short", forge.GitHub, secret, header("X-Hub-Signature-256", "sha256="+good[:62]), false},
		{"github long", forge.GitHub, secret, header("X-Hub-Signature-256", "sha256="+good+"00"), false},
		{"github not hex", forge.GitHub, secret, header("X-Hub-Signature-256", "sha256="+good[:63]+"g"), false},
		{"github sha1 only", forge.GitHub, secret, header("X-Hub-Signature", "sha1=0123"), false},
		{"github empty secret", forge.GitHub, "", header("X-Hub-Signature-256", "sha256="+sign("", body)), false},
		{"gitea good", forge.Gitea, secret, header("X-Gitea-Signature", good), true},
		{"forgejo good", forge.Gitea, secret, header("X-Forgejo-Signature", good), true},
		{"gitea by X-Hub-Signature-256", forge.Gitea, secret, header("X-Hub-Signature-256", "sha256="+good), true},
		{"gitea wrong", forge.Gitea, secret, header("X-Gitea-Signature", other), false},
		{"gitea wrong, good hub header", forge.Gitea, secret, header("X-Gitea-Signature", other, "X-Hub-Signature-256", "sha256="+good), false},
		{"gitea missing", forge.Gitea, secret, header(), false},
		{"gitea short", forge.Gitea, secret, header("X-Gitea-Signature", good[:10]), false},
		{"gitlab good", forge.GitLab, secret, header("X-Gitlab-Token", secret), true},
		{"gitlab mismatch", forge.GitLab, secret, header("X-Gitlab-Token", "It's a Secret to Everybody!"), false},
		{"gitlab prefix", forge.GitLab, secret, header("X-Gitlab-Token", secret[:5]), false},
		{"gitlab missing", forge.GitLab, secret, header(), false},
		{"gitlab HMAC is not a token", forge.GitLab, secret, header("X-Hub-Signature-256", "sha256="+good), false},
		{"gitlab empty secret", forge.GitLab, "", header("X-Gitlab-Token", ""), false},
		{"unknown forge", "bitbucket", secret, header("X-Hub-Signature-256", "sha256="+good), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := forge.Verify(c.kind, []byte(c.secret), c.header, body)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && !errors.Is(err, forge.ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
		})
	}
	// The body is what is signed.
	if err := forge.Verify(forge.GitHub, []byte(secret), header("X-Hub-Signature-256", "sha256="+good), []byte("Hello, World?")); err == nil {
		t.Error("a changed body passed")
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestDelivery(t *testing.T) {
	cases := []struct {
		kind forge.Kind
		h    http.Header
		want string
	}{
		{forge.GitHub, header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{forge.GitLab, header("X-Gitlab-Event-UUID", "13792a34-cac6-4bda-95a8-c58ae1b7e0c0"), "13792a34-cac6-4bda-95a8-c58ae1b7e0c0"},
		{forge.Gitea, header("X-Gitea-Delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"), "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
		{forge.Gitea, header("X-Forgejo-Delivery", "abc"), "abc"},
		{forge.GitHub, header("X-Gitea-Delivery", "abc"), ""},
		{forge.GitHub, header(), ""},
		{forge.GitHub, header("X-GitHub-Delivery", "a b"), ""},
		{forge.GitHub, header("X-GitHub-Delivery", string(make([]byte, 129))), ""},
	}
	for _, c := range cases {
		if got := forge.Delivery(c.kind, c.h); got != c.want {
			t.Errorf("Delivery(%s, %v) = %q, want %q", c.kind, c.h, got, c.want)
		}
	}
}
