package api

import (
	"errors"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// listAudit lists the organization's audit log, newest first, filtered by
// ?actor= (a user's or API key's id), ?action=, ?tenant= (slug), ?since= and
// ?until= (RFC 3339).
func (s *Server) listAudit(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	org := orgOf(c)
	var f db.AuditFilter
	if a := c.Query("actor"); a != "" {
		id, err := uuid.Parse(a)
		if err != nil {
			fail(c, badRequest("actor must be the id of a user or an API key"))
			return
		}
		// An id is either a user's or a key's; which one is checked here so
		// the filter matches one column.
		if _, err := s.store.APIKeys().Get(c, org.ID, id); err == nil {
			f.ActorAPIKeyID = &id
		} else if errors.Is(err, db.ErrNotFound) {
			f.ActorUserID = &id
		} else {
			fail(c, err)
			return
		}
	}
	f.Action = c.Query("action")
	if slug := c.Query("tenant"); slug != "" {
		t, err := s.store.Tenants().Get(c, org.ID, slug)
		if errors.Is(err, db.ErrNotFound) {
			ok(c, apiview.List[apiview.Audit]{Items: []apiview.Audit{}})
			return
		}
		if err != nil {
			fail(c, err)
			return
		}
		f.TenantID = &t.ID
	}
	for param, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := c.Query(param); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				fail(c, badRequest(param+" must be an RFC 3339 time such as 2026-11-26T12:00:00Z"))
				return
			}
			*dst = t
		}
	}
	page, err := s.store.Audit().List(c, org.ID, f, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, viewAudit))
}
