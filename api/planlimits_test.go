package api

import (
	"fmt"
	"sync"
	"testing"

	"github.com/buildit-ci/buildit/apiview"
)

// tally counts the answers of concurrent requests: how many were created,
// how many refused with plan_limit, and the rest.
func tally(answers []resp) (created, limited int, other []string) {
	for _, r := range answers {
		switch {
		case r.status == 201:
			created++
		case r.status == 403 && r.code() == CodePlanLimit:
			limited++
		default:
			other = append(other, fmt.Sprintf("%d %s", r.status, r.body))
		}
	}
	return created, limited, other
}

// concurrently sends n requests at once, the i-th made by req(i).
func concurrently(n int, req func(i int) resp) []resp {
	answers := make([]resp, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = req(i)
		})
	}
	close(start)
	wg.Wait()
	return answers
}

// Finding 7: the tenant and member limits of a plan were counted and
// inserted without a lock, so concurrent creates went past them. Each
// round fires 20 creates at once on an empty free organization, then
// deletes what they made: several rounds, so that a race shows.
func TestSecurityPlanLimitsHoldUnderConcurrentCreates(t *testing.T) {
	t.Parallel()
	e := setup(t)
	owner := e.signup("owner@acme.test", "Acme") // free: 3 tenants, 5 members
	free := limitsOf["free"]
	for i := range 20 {
		e.signup(fmt.Sprintf("user%d@acme.test", i), fmt.Sprintf("Home %d", i))
	}

	for round := range 5 {
		answers := concurrently(20, func(i int) resp {
			return owner.do("POST", "/orgs/acme/tenants", map[string]string{"name": fmt.Sprintf("team-%d-%d", round, i)})
		})
		if created, limited, other := tally(answers); created != free.Tenants || limited != 20-free.Tenants {
			t.Errorf("round %d: 20 tenant creates at once on the free plan: %d created, %d plan_limit, others %v; want %d and %d",
				round, created, limited, other, free.Tenants, 20-free.Tenants)
		}
		var l apiview.List[apiview.Tenant]
		owner.must(200, "GET", "/orgs/acme/tenants?limit=500", nil).json(t, &l)
		if len(l.Items) != free.Tenants {
			t.Errorf("round %d: the free org has %d tenants, want %d", round, len(l.Items), free.Tenants)
		}
		for _, tn := range l.Items {
			owner.must(204, "DELETE", "/orgs/acme/tenants/"+tn.Slug, nil)
		}
	}

	for round := range 5 {
		answers := concurrently(20, func(i int) resp {
			return owner.do("POST", "/orgs/acme/members", map[string]string{"email": fmt.Sprintf("user%d@acme.test", i)})
		})
		// The owner is one of the members.
		if created, limited, other := tally(answers); created != free.Members-1 || limited != 20-(free.Members-1) {
			t.Errorf("round %d: 20 member adds at once on the free plan: %d added, %d plan_limit, others %v; want %d and %d",
				round, created, limited, other, free.Members-1, 20-(free.Members-1))
		}
		var l apiview.List[apiview.Member]
		owner.must(200, "GET", "/orgs/acme/members?limit=500", nil).json(t, &l)
		if len(l.Items) != free.Members {
			t.Errorf("round %d: the free org has %d members, want %d", round, len(l.Items), free.Members)
		}
		for _, m := range l.Items {
			if m.Email != "owner@acme.test" {
				owner.must(204, "DELETE", "/orgs/acme/members/"+m.UserID.String(), nil)
			}
		}
	}
}
