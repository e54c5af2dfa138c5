package api

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/buildit-ci/buildit/apiview"
	"github.com/buildit-ci/buildit/db"
)

// Limits of each plan tier; zero means none. A tenant's artifact storage
// is db.ArtifactQuotas (the worker enforces it too).
type planLimits struct{ Tenants, Members, ConcurrentRuns int }

var limitsOf = map[db.Plan]planLimits{
	db.PlanFree:       {Tenants: 3, Members: 5, ConcurrentRuns: 2},
	db.PlanPro:        {Tenants: 50, Members: 100, ConcurrentRuns: 20},
	db.PlanEnterprise: {},
}

func planLimit(org db.Organization, what string, n int) *Error {
	return errorf(403, CodePlanLimit, fmt.Sprintf("the %s plan allows %d %s; upgrade the organization's plan for more", org.Plan, n, what))
}

func (s *Server) listOrgs(c *gin.Context) {
	p := principalOf(c)
	if p.key != nil {
		org, err := s.store.Organizations().Get(c, p.key.OrgID)
		if err != nil {
			fail(c, err)
			return
		}
		ok(c, apiview.List[apiview.Org]{Items: []apiview.Org{viewOrg(org, "")}})
		return
	}
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Organizations().ListForUser(c, p.user.ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, func(o db.UserOrganization) apiview.Org { return viewOrg(o.Organization, o.Role) }))
}

func (s *Server) getOrg(c *gin.Context) { ok(c, viewOrg(orgOf(c), orgRoleOf(c))) }

func (s *Server) listMembers(c *gin.Context) {
	after, limit, err := paging(c)
	if err != nil {
		fail(c, err)
		return
	}
	page, err := s.store.Organizations().ListMembers(c, orgOf(c).ID, after, limit)
	if err != nil {
		fail(c, err)
		return
	}
	ok(c, listOf(page, viewOrgMember))
}

type memberRequest struct {
	Email  string `json:"email"`
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

// checkGrant refuses a change of memberships the request may not make:
// whoever it acts for (the signed-in user, or a key's creator) must still
// be an owner or admin, and only an owner may make, change or remove an
// owner, whether through a session or a key. The role is read again in tx,
// under the organization's lock (see changeOrg), so a role lost a moment
// ago no longer counts.
func checkGrant(c *gin.Context, tx *db.Tx, roles ...db.OrgRole) error {
	m, err := tx.Organizations().GetMember(c, orgOf(c).ID, principalOf(c).actsFor())
	if errors.Is(err, db.ErrNotFound) {
		return forbidden("this needs the organization role admin or higher")
	}
	if err != nil {
		return err
	}
	if orgRank[m.Role] < orgRank[db.OrgRoleAdmin] {
		return forbidden("this needs the organization role admin or higher")
	}
	if m.Role != db.OrgRoleOwner && slices.Contains(roles, db.OrgRoleOwner) {
		return forbidden("only an owner can make, change or remove an owner")
	}
	return nil
}

// changeOrg is change under the organization's lock: the changes of its
// members and tenants run one at a time, so that what they check first
// (the grant, the last owner, the plan's limits) stays true until they
// commit.
func (s *Server) changeOrg(c *gin.Context, fn func(tx *db.Tx) (db.AuditEntry, error)) error {
	return s.change(c, func(tx *db.Tx) (db.AuditEntry, error) {
		if err := tx.Organizations().Lock(c, orgOf(c).ID); err != nil {
			return db.AuditEntry{}, err
		}
		return fn(tx)
	})
}

// checkPlanLimit fails with plan_limit when the organization has lim of
// what already (zero: no limit); count says how many. Called in changeOrg,
// the count stays true until the insert that follows.
func checkPlanLimit(org db.Organization, what string, lim int, count func() (int, error)) error {
	if lim <= 0 {
		return nil
	}
	n, err := count()
	if err != nil {
		return err
	}
	if n >= lim {
		return planLimit(org, what, lim)
	}
	return nil
}

// addMember adds an existing user (by email or id) to the organization.
func (s *Server) addMember(c *gin.Context) {
	var req memberRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	role := db.OrgRole(req.Role)
	if req.Role == "" {
		role = db.OrgRoleMember
	}
	if !role.Valid() {
		fail(c, invalid("role must be owner, admin or member"))
		return
	}
	user, err := s.userByRef(c, req.Email, req.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	org := orgOf(c)
	var m db.OrgMembership
	err = s.changeOrg(c, func(tx *db.Tx) (db.AuditEntry, error) {
		if err := checkGrant(c, tx, role); err != nil {
			return db.AuditEntry{}, err
		}
		err := checkPlanLimit(org, "members", limitsOf[org.Plan].Members, func() (int, error) {
			return tx.Organizations().CountMembers(c, org.ID)
		})
		if err != nil {
			return db.AuditEntry{}, err
		}
		m, err = tx.Organizations().AddMember(c, org.ID, user.ID, role)
		return auditEntry(c, org.ID, nil, "member.add", "user", user.ID.String(), map[string]any{"role": role}), err
	})
	if errors.Is(err, db.ErrConflict) {
		err = conflict("that user is a member already")
	}
	if err != nil {
		fail(c, err)
		return
	}
	created(c, viewOrgMember(m))
}

// userByRef finds the user a request names by email or by id.
func (s *Server) userByRef(c *gin.Context, email, id string) (db.User, error) {
	switch {
	case email != "" && id != "":
		return db.User{}, invalid("give email or user_id, not both")
	case id != "":
		uid, err := uuid.Parse(id)
		if err != nil {
			return db.User{}, invalid("user_id is not a UUID")
		}
		u, err := s.store.Users().Get(c, uid)
		if errors.Is(err, db.ErrNotFound) {
			return u, invalid("no user has that user_id")
		}
		return u, err
	case email != "":
		u, err := s.store.Users().GetByEmail(c, email)
		if errors.Is(err, db.ErrNotFound) {
			return u, invalid("no BuildIt account has that email; they sign up first")
		}
		return u, err
	}
	return db.User{}, invalid("email or user_id is required")
}

func memberParam(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("user"))
	if err != nil {
		return id, notFound("member")
	}
	return id, nil
}

func (s *Server) updateMember(c *gin.Context) {
	uid, err := memberParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	role := db.OrgRole(req.Role)
	if !role.Valid() {
		fail(c, invalid("role must be owner, admin or member"))
		return
	}
	org := orgOf(c)
	var m db.OrgMembership
	err = s.changeOrg(c, func(tx *db.Tx) (db.AuditEntry, error) {
		old, err := tx.Organizations().GetMember(c, org.ID, uid)
		if err != nil {
			return db.AuditEntry{}, err
		}
		if err := checkGrant(c, tx, old.Role, role); err != nil {
			return db.AuditEntry{}, err
		}
		m, err = tx.Organizations().UpdateMemberRole(c, org.ID, uid, role)
		return auditEntry(c, org.ID, nil, "member.update", "user", uid.String(), map[string]any{"from": old.Role, "to": role}), err
	})
	if errors.Is(err, db.ErrLastOwner) {
		err = conflict("an organization must keep at least one owner")
	}
	if err != nil {
		fail(c, memberNotFound(err))
		return
	}
	ok(c, viewOrgMember(m))
}

func (s *Server) removeMember(c *gin.Context) {
	uid, err := memberParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	org := orgOf(c)
	err = s.changeOrg(c, func(tx *db.Tx) (db.AuditEntry, error) {
		old, err := tx.Organizations().GetMember(c, org.ID, uid)
		if err != nil {
			return db.AuditEntry{}, err
		}
		if err := checkGrant(c, tx, old.Role); err != nil {
			return db.AuditEntry{}, err
		}
		err = tx.Organizations().RemoveMember(c, org.ID, uid)
		return auditEntry(c, org.ID, nil, "member.remove", "user", uid.String(), map[string]any{"role": old.Role}), err
	})
	if errors.Is(err, db.ErrLastOwner) {
		err = conflict("an organization must keep at least one owner")
	}
	if err != nil {
		fail(c, memberNotFound(err))
		return
	}
	noContent(c)
}

func memberNotFound(err error) error {
	if errors.Is(err, db.ErrNotFound) {
		return notFound("member")
	}
	return err
}
