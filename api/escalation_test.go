package api

import (
	"sync"
	"testing"
	"time"

	"github.com/buildit-ci/buildit/apiview"
)

// joined signs a new user up and makes them a member of org with role,
// through owner; it returns their client and user ID.
func (e *env) joined(owner *client, org, email, role string) (*client, string) {
	e.t.Helper()
	c := e.signup(email, "Home of "+email)
	var m apiview.Member
	owner.must(201, "POST", "/orgs/"+org+"/members", map[string]string{"email": email, "role": role}).json(e.t, &m)
	return c, m.UserID.String()
}

// roles maps the emails of org's members to their roles.
func roles(c *client, org string) map[string]string {
	c.e.t.Helper()
	var l apiview.List[apiview.Member]
	c.must(200, "GET", "/orgs/"+org+"/members?limit=500", nil).json(c.e.t, &l)
	out := map[string]string{}
	for _, m := range l.Items {
		out[m.Email] = m.Role
	}
	return out
}

func myID(c *client) string {
	c.e.t.Helper()
	var me apiview.Me
	c.must(200, "GET", "/me", nil).json(c.e.t, &me)
	return me.User.ID.String()
}

// Finding 3: an admin's org:admin key acted as an owner, because the grant
// check of the member handlers skipped keys.
func TestSecurityKeyCannotPromoteItsCreator(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	ownerID := myID(owner)
	admin, adminID := e.joined(owner, "acme", "admin@acme.test", "admin")
	_, plainID := e.joined(owner, "acme", "plain@acme.test", "member")
	key := e.withKey(admin.apiKey("acme", map[string]any{"name": "admin-bot", "scopes": Scopes}))

	for _, r := range []struct{ method, path, role string }{
		{"PATCH", "/orgs/acme/members/" + adminID, "owner"},
		{"PATCH", "/orgs/acme/members/" + ownerID, "member"},
		{"PATCH", "/orgs/acme/members/" + ownerID, "admin"},
		{"DELETE", "/orgs/acme/members/" + ownerID, ""},
	} {
		var body any
		if r.role != "" {
			body = map[string]string{"role": r.role}
		}
		if got := key.do(r.method, r.path, body); got.status != 403 {
			t.Errorf("admin's key: %s %s %v: %d, want 403\n%s", r.method, r.path, body, got.status, got.body)
		}
	}
	e.signup("new@acme.test", "New home")
	if got := key.do("POST", "/orgs/acme/members", map[string]string{"email": "new@acme.test", "role": "owner"}); got.status != 403 {
		t.Errorf("admin's key adds an owner: %d, want 403\n%s", got.status, got.body)
	}
	if got := roles(owner, "acme"); got["owner@acme.test"] != "owner" || got["admin@acme.test"] != "admin" || got["new@acme.test"] != "" {
		t.Errorf("after the admin key's attempts, members are %v", got)
	}

	// What an admin may do, the admin's key may do.
	key.must(200, "PATCH", "/orgs/acme/members/"+plainID, map[string]string{"role": "admin"})
	key.must(200, "PATCH", "/orgs/acme/members/"+plainID, map[string]string{"role": "member"})
	// The audit log names the key, not its creator.
	var audit apiview.List[apiview.Audit]
	owner.must(200, "GET", "/orgs/acme/audit-logs?action=member.update", nil).json(t, &audit)
	if len(audit.Items) != 2 || audit.Items[0].ActorAPIKey == nil || audit.Items[0].ActorUser != nil {
		t.Errorf("member.update audit entries %+v", audit.Items)
	}

	// An owner's key acts as an owner.
	ownerKey := e.withKey(owner.apiKey("acme", map[string]any{"name": "owner-bot", "scopes": []string{ScopeOrgAdmin}}))
	ownerKey.must(200, "PATCH", "/orgs/acme/members/"+adminID, map[string]string{"role": "owner"})
	// The admin is an owner now, so their key acts as one too.
	key.must(200, "PATCH", "/orgs/acme/members/"+plainID, map[string]string{"role": "owner"})
	key.must(200, "PATCH", "/orgs/acme/members/"+plainID, map[string]string{"role": "member"})
}

// Finding 3: keys kept working after their creator left the org.
func TestSecurityKeyStopsWhenItsCreatorLosesTheRole(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	admin, adminID := e.joined(owner, "acme", "admin@acme.test", "admin")
	orgKey := e.withKey(admin.apiKey("acme", map[string]any{"name": "org-bot", "scopes": Scopes}))
	tenantKey := e.withKey(admin.apiKey("acme", map[string]any{"name": "web-bot", "scopes": []string{ScopePipelinesRead}, "tenant": "web"}))
	// A key made by the admin's key belongs to the admin too.
	childKey := e.withKey(orgKey.apiKey("acme", map[string]any{"name": "child", "scopes": []string{ScopePipelinesRead}}))

	works := func(when string, want int) {
		t.Helper()
		for name, r := range map[string]resp{
			"org key":    orgKey.do("GET", "/orgs/acme/members", nil),
			"tenant key": tenantKey.do("GET", "/orgs/acme/tenants/web/pipelines", nil),
			"child key":  childKey.do("GET", "/orgs/acme/tenants/web/pipelines", nil),
		} {
			if r.status != want || (want == 401 && r.code() != CodeUnauthenticated) {
				t.Errorf("%s, %s: %d %s, want %d", when, name, r.status, r.body, want)
			}
		}
	}
	works("creator is an admin", 200)

	owner.must(200, "PATCH", "/orgs/acme/members/"+adminID, map[string]string{"role": "member"})
	works("creator demoted to member", 401)
	// Keys follow their creator's current role: back to admin, they work.
	owner.must(200, "PATCH", "/orgs/acme/members/"+adminID, map[string]string{"role": "admin"})
	works("creator an admin again", 200)

	owner.must(204, "DELETE", "/orgs/acme/members/"+adminID, nil)
	works("creator removed from the org", 401)
}

// Finding 3: a key made by a key could hold scopes its maker lacked, and
// outlive it.
func TestSecurityKeyMadeByAKeyStaysWithinIt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	parent := e.withKey(owner.apiKey("acme", map[string]any{"name": "keys-only", "scopes": []string{ScopeOrgAdmin}, "expires_at": expires}))

	if r := parent.do("POST", "/orgs/acme/api-keys", map[string]any{"name": "wider", "scopes": []string{ScopeOrgAdmin, ScopeRunsWrite}}); r.status != 403 {
		t.Errorf("a key makes a key with a scope it lacks: %d, want 403\n%s", r.status, r.body)
	}
	if r := parent.do("POST", "/orgs/acme/api-keys", map[string]any{"name": "later", "scopes": []string{ScopeOrgAdmin}, "expires_at": expires.Add(time.Hour)}); r.status != 422 {
		t.Errorf("a key makes a key that expires after it: %d, want 422\n%s", r.status, r.body)
	}
	var child apiview.APIKey
	parent.must(201, "POST", "/orgs/acme/api-keys", map[string]any{"name": "same", "scopes": []string{ScopeOrgAdmin}}).json(t, &child)
	if child.ExpiresAt == nil || !child.ExpiresAt.Equal(expires) {
		t.Errorf("a key made by a key expires at %v, want its maker's %v", child.ExpiresAt, expires)
	}
}

// Who is no owner or admin makes no key at all, org:admin least of all.
func TestSecurityOnlyOrgAdminsMakeKeys(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme")
	owner.must(201, "POST", "/orgs/acme/tenants", map[string]string{"name": "web"})
	plain, _ := e.joined(owner, "acme", "plain@acme.test", "member")
	tadmin, _ := e.joined(owner, "acme", "tadmin@acme.test", "member")
	owner.must(201, "POST", "/orgs/acme/tenants/web/members", map[string]string{"email": "tadmin@acme.test", "role": "admin"})
	for name, c := range map[string]*client{"org member": plain, "tenant admin": tadmin} {
		for _, body := range []map[string]any{
			{"name": "x", "scopes": []string{ScopeOrgAdmin}},
			{"name": "x", "scopes": []string{ScopeRunsWrite}, "tenant": "web"},
		} {
			if r := c.do("POST", "/orgs/acme/api-keys", body); r.status != 403 {
				t.Errorf("%s makes a key %v: %d, want 403\n%s", name, body, r.status, r.body)
			}
		}
	}
}

// The last owner stays, whoever asks, even when two owners step down at
// the same moment.
func TestSecurityLastOwnerStays(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.signup("a@acme.test", "Acme")
	aID := myID(a)
	aKey := e.withKey(a.apiKey("acme", map[string]any{"name": "a-bot", "scopes": []string{ScopeOrgAdmin}}))
	for _, c := range []*client{a, aKey} {
		if r := c.do("PATCH", "/orgs/acme/members/"+aID, map[string]string{"role": "admin"}); r.status != 409 {
			t.Errorf("the last owner demoted: %d, want 409\n%s", r.status, r.body)
		}
		if r := c.do("DELETE", "/orgs/acme/members/"+aID, nil); r.status != 409 {
			t.Errorf("the last owner removed: %d, want 409\n%s", r.status, r.body)
		}
	}

	b, bID := e.joined(a, "acme", "b@acme.test", "owner")
	for round := range 10 {
		// Both owners step down at once: one of them must stay.
		var wg sync.WaitGroup
		codes := make([]int, 2)
		wg.Go(func() { codes[0] = a.do("PATCH", "/orgs/acme/members/"+aID, map[string]string{"role": "admin"}).status })
		wg.Go(func() { codes[1] = b.do("PATCH", "/orgs/acme/members/"+bID, map[string]string{"role": "admin"}).status })
		wg.Wait()
		ok, refused := 0, 0
		for _, c := range codes {
			switch c {
			case 200:
				ok++
			case 409:
				refused++
			}
		}
		if ok != 1 || refused != 1 {
			t.Fatalf("round %d: two owners demoted themselves at once: %v, want one 200 and one 409", round, codes)
		}
		// The one still owner makes the other an owner again.
		stayed, other := a, bID
		if codes[0] == 200 {
			stayed, other = b, aID
		}
		stayed.must(200, "PATCH", "/orgs/acme/members/"+other, map[string]string{"role": "owner"})
	}
	for round := range 5 {
		// Each owner removes the other at once: one of them must stay.
		var wg sync.WaitGroup
		codes := make([]int, 2)
		wg.Go(func() { codes[0] = a.do("DELETE", "/orgs/acme/members/"+bID, nil).status })
		wg.Go(func() { codes[1] = b.do("DELETE", "/orgs/acme/members/"+aID, nil).status })
		wg.Wait()
		if codes[0] == 204 && codes[1] == 204 {
			t.Fatalf("round %d: both owners removed each other", round)
		}
		stayed, gone := a, "b@acme.test"
		if codes[1] == 204 {
			stayed, gone = b, "a@acme.test"
		}
		if got := roles(stayed, "acme"); len(got) != 1 {
			t.Fatalf("round %d: owners removing each other at once (%v) left %v", round, codes, got)
		}
		stayed.must(201, "POST", "/orgs/acme/members", map[string]string{"email": gone, "role": "owner"})
	}
}
